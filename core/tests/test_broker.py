"""The embedded default's broker: a consumer never takes a message that is still being written."""

import os

import kombu.utils.json
import pytest
from kombu import Connection
from kombu.transport import filesystem

from core.broker import Transport


@pytest.mark.parametrize(
    "module, transport, seen",
    [
        ("core.broker", Transport, "nothing yet"),
        # kombu's own (pinned 5.7): the file is there, empty, while it is written; the consumer takes and breaks it.
        ("kombu.transport.filesystem", filesystem.Transport, "a broken message"),
    ],
)
def test_a_consumer_polling_while_a_message_is_written_sees_none_of_it(tmp_path, monkeypatch, module, transport, seen):
    folder = str(tmp_path / "queue")
    os.makedirs(folder)
    options = {"data_folder_in": folder, "data_folder_out": folder}
    outcome = []
    producer = Connection("filesystem://localhost/", transport=transport, transport_options=options)
    with producer, producer.clone() as consumer:
        polling = consumer.default_channel

        def dumps_while_a_consumer_polls(payload):
            try:
                outcome.append(polling._get("q"))
            except filesystem.Empty:
                outcome.append("nothing yet")
            except ValueError:  # the empty file's JSONDecodeError, which kills a worker's consumer
                outcome.append("a broken message")
            return kombu.utils.json.dumps(payload)

        monkeypatch.setattr(f"{module}.dumps", dumps_while_a_consumer_polls)
        producer.default_channel._put("q", {"body": "hello"})
        monkeypatch.undo()
        assert outcome == [seen]
        if transport is Transport:
            assert polling._get("q") == {"body": "hello"}  # whole, once renamed
            assert not os.listdir(folder)

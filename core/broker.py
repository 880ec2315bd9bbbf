"""kombu's filesystem transport (the embedded default's broker) with messages that appear whole.

kombu 5.7's `filesystem.Channel._put` creates the message file under its final name and then writes it, while
`_get` takes any file with that name without a lock: a worker polling at that moment moves an empty or half-written
file, fails to decode it (JSONDecodeError) and its consumer dies, so every later task waits in the folder. Seen in
CI's SQLite pass: one worker log, then every worker test after it failing. Here a message is written under a name the
consumer ignores (`….msg.part`) and renamed to its final name, which is atomic on POSIX: a consumer sees no file or
the whole of it. Everything else (folders, polling, fan-out, purge, size) is kombu's.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put `payload` onto `queue`: written to a partial name, then renamed to the name `_get` looks for."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = f"{final}.part"  # its part after the first '.' is not '<queue>.msg': no consumer takes it
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel

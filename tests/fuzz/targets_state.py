"""Fuzz targets for the agent's own files on flash, read back on start:
the telemetry report queue, the accounting checkpoint, the enrollment
record (device.json) and the private key file.

These files are written by the agent itself, atomically (store.py), but a
flash chip can return anything, and a technician can edit them. Each is
read through the function the file store calls as its validator; the
documented answer to damage is ValueError (the store then moves the file
aside and falls back to the last good copy or defaults). A file that
passes must also be usable: the restored object is driven through its
normal calls afterwards, so "accepted, then crashed later" is a failure too.
"""

import json

from tests.fuzz.registry import Bytes, register
from vpnspot_router.core import accounting, telemetry, wgconf
from vpnspot_router.provider import client as c
from vpnspot_router.provider import commands
from vpnspot_router.provider import transport as t

NOW = 1700000000


def _counter_random():
    state = [0]

    def random_bytes(n):
        state[0] += 1
        return (state[0].to_bytes(4, "big") * (n // 4 + 1))[:n]
    return random_bytes


IDENTITY = telemetry.Identity("GL.iNet GL-MT3000", "OpenWrt", "23.05.3", "0.1.0")


def _queue_seed(n):
    q = telemetry.ReportQueue(_counter_random())
    for i in range(n):
        q.add(IDENTITY, NOW + 3600 * i, NOW + 3600 * (i + 1), 1000 * i, 2000 * i, NOW + 3600 * (i + 1))
    if n:
        q.failed(q.items[0].report_id, NOW + 99999)
    return q.to_bytes()


def check_report_queue(data):
    q = telemetry.ReportQueue(_counter_random(), capacity=8)
    q.restore(data)
    # A restored queue must work: send, fail, accept, add, save.
    now = NOW + 10 ** 6
    item = q.due(now)
    q.next_wakeup()
    if item is not None:
        q.failed(item.report_id, now)
        telemetry.check_report(item.body)
        q.accepted(item.report_id)
    q.add(IDENTITY, NOW, NOW + 3600, 1, 2, now)
    q2 = telemetry.ReportQueue(_counter_random(), capacity=8)
    q2.restore(q.to_bytes())


# Damage that once escaped restore() as another exception (regression seeds).
QUEUE_REGRESSIONS = [b'""', b'[]', b'{"v":1,"items":[[1,2,3,4,5]],"next_seq":3,"dropped":0}',
                     b'[' * 5000]

register("state.report_queue", check_report_queue, expected=(ValueError,),
         seeds=[_queue_seed(0), _queue_seed(1), _queue_seed(3)] + QUEUE_REGRESSIONS, max_len=4096,
         doc="telemetry report queue restored from flash (ReportQueue.restore)")


def _checkpoint_seed(hours):
    a = accounting.Accounting()
    for i in range(hours):
        a.observe(10 ** 6 * i, 2 * 10 ** 6 * i, NOW + 3600 * i, source="wg0:7")
    return a.to_bytes(NOW + 3600 * hours)


def check_checkpoint(data):
    a = accounting.Accounting()
    a.restore(data)
    r = Bytes(data[-4:])
    now = (a.last_seen if type(a.last_seen) is int else NOW) + r.byte() * 600
    for rx, tx in ((0, 0), (2 ** 32 - 1, 5), (2 ** 40, 2 ** 40)):
        a.observe(rx, tx, now, source=r.choice((None, "wg0:7", 3)))
        now += 900
    a.flush(now)
    a.hourly(now)
    a.daily(now)
    accounting.Accounting().restore(a.to_bytes(now))


_CP = (b'{"v":1,"saved_at":%s,"total":[1,2],"last":[null,null],"source":null,'
       b'"period":[null,0,0],"hours":[%s],"days":[]}')
CHECKPOINT_REGRESSIONS = [_CP % (b'"x"', b''), _CP % (b'1', b'[Infinity,1,1]'), b'[' * 5000]

register("state.checkpoint", check_checkpoint, expected=(ValueError,),
         seeds=[_checkpoint_seed(0), _checkpoint_seed(2), _checkpoint_seed(30)] + CHECKPOINT_REGRESSIONS,
         max_len=4096,
         doc="bandwidth totals restored from a checkpoint (Accounting.restore)")


def _device_seed():
    return json.dumps({"api_url": "https://api.vpnspot.test", "ca_file": None, "resolve": {},
                       "device_id": "dev_0123456789", "device_token": "t" * 43},
                      sort_keys=True, indent=1).encode() + b"\n"


def check_device_record(data):
    record = commands._validate_device(data)
    # What `vpnspot servers` and the agent do with an accepted record.
    client = c.ProviderClient(record["api_url"], device_token=record["device_token"],
                              transport=t.FakeTransport(lambda request: t.Response(
                                  200, {}, b'{"servers": []}')),
                              sleep=lambda s: None, random=lambda: 0.5)
    client.servers()


_DEV = b'{"api_url":%s,"ca_file":null,"resolve":{},"device_id":"dev_1","device_token":%s}'
DEVICE_REGRESSIONS = [_DEV % (b'5', b'"tttttttt"'), _DEV % (b'"https://x"', b'5'),
                      _DEV % (b'"https://x"', b'"a\\nb"'), b'[' * 5000]

register("state.device_record", check_device_record, expected=(ValueError, c.ProviderError),
         seeds=[_device_seed()] + DEVICE_REGRESSIONS, max_len=2048,
         doc="the enrollment record device.json (token, device id, API address)")


def check_key_file(data):
    wgconf.decode_key(data.decode("utf-8", "replace").strip())


register("state.key_file", check_key_file, expected=(ValueError,),
         seeds=[b"yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n"], max_len=256,
         doc="a stored WireGuard private key (base64, as `vpnspot genkey` prints it)")

#!/usr/bin/env python3
"""Stand-in for gala-gopher 2.x: the daemon's probe manager with its REST server and command
socket, the `gopher-ctl` client, and the `init_probes.sh` helper the unit runs at start and stop.

    gala_gopher_standin.py daemon --flavour {2.0.0,2.0.1,2.0.2,master} --state DIR ...
    gala_gopher_standin.py ctl probe get NAME | probe set NAME JSON | metric
    gala_gopher_standin.py init-probes --replay|--save --probes-init PATH ...

Every reply text is the one gala-gopher builds, byte for byte, release by release; the comments
name the file of gala-gopher's repository (openeuler-mirror/gala-gopher) each one comes from.
What that repository does not show for a release is taken from ../shared/docs/gala-gopher.md
and says so where it is used. Python 3 standard library only.

Files in --state DIR (for tests, never read by gala-gopher itself):
    ready           the REST port actually bound ("none" without REST), written once listening
    probes.json     the live state of every probe, rewritten atomically after every change
    requests.jsonl  one JSON object per request received, REST or command socket, in order
"""

import errno
import json
import os
import socket
import struct
import sys
import time


class _Lazy:
    """A module imported on first use. gopher-ctl runs once per call, and interpreter start-up
    is most of what a call costs: the client path imports only what it needs."""

    def __init__(self, name):
        self._name = name
        self._module = None

    def __getattr__(self, attr):
        if self._module is None:
            import importlib
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


argparse = _Lazy("argparse")
copy = _Lazy("copy")
email_utils = _Lazy("email.utils")
signal = _Lazy("signal")
socketserver = _Lazy("socketserver")
threading = _Lazy("threading")
urlparse = _Lazy("urllib.parse")

DEFAULT_SOCKET = "/var/run/gala_gopher/gala_gopher_cmd.sock"

# --------------------------------------------------------------------------------------------
# What each release knows.
# --------------------------------------------------------------------------------------------

# src/lib/probe/probe_mng.c (2.0.2): probe_define[], in its order, with each probe's binary.
BINS = {
    "baseinfo": "system_infos",
    "virt": "virtualized_infos",
    "flamegraph": "/opt/gala-gopher/extend_probes/stackprobe",
    "l7": "/opt/gala-gopher/extend_probes/l7probe",
    "tcp": "/opt/gala-gopher/extend_probes/tcpprobe",
    "socket": "/opt/gala-gopher/extend_probes/endpoint",
    "io": "/opt/gala-gopher/extend_probes/ioprobe",
    "proc": "/opt/gala-gopher/extend_probes/taskprobe",
    "jvm": "/opt/gala-gopher/extend_probes/jvmprobe",
    "postgre_sli": "/opt/gala-gopher/extend_probes/pgsliprobe",
    "opengauss_sli": "/opt/gala-gopher/extend_probes/pg_stat_probe.py",
    "nginx": "/opt/gala-gopher/extend_probes/nginx_probe",
    "lvs": "/opt/gala-gopher/extend_probes/trace_lvs",
    "kafka": "/opt/gala-gopher/extend_probes/kafkaprobe",
    "tprofiling": "/opt/gala-gopher/extend_probes/tprofiling",
    "hw": "/opt/gala-gopher/extend_probes/hwprobe",
    "ksli": "/opt/gala-gopher/extend_probes/ksliprobe",
    "container": "/opt/gala-gopher/extend_probes/cadvisor_probe.py",
    "sermant": "/opt/gala-gopher/extend_probes/sermant_probe.py",
    "sli": "/opt/gala-gopher/extend_probes/sliprobe",
    "flowtracer": "/opt/gala-gopher/extend_probes/flowtracer",
    # 2.0.0 only (its probe_define[] named them "$gala-gopher-dir/<bin>").
    "redis_sli": "/opt/gala-gopher/extend_probes/redissli",
    "dnsmasq": "/opt/gala-gopher/extend_probes/rabbitmq_probe.sh",
    "haproxy": "/opt/gala-gopher/extend_probes/trace_haproxy",
    "sched": "/opt/gala-gopher/extend_probes/schedprobe",
}

NAMES_202 = ["baseinfo", "virt", "flamegraph", "l7", "tcp", "socket", "io", "proc", "jvm",
             "postgre_sli", "opengauss_sli", "nginx", "lvs", "kafka", "tprofiling", "hw", "ksli",
             "container", "sermant", "sli", "flowtracer"]
# The 2.0.0-era probe_mng.c (the one with cmd.check_cmd): probe_define[] in its order.
NAMES_200 = ["baseinfo", "virt", "flamegraph", "l7", "tcp", "socket", "io", "proc", "jvm",
             "redis_sli", "postgre_sli", "opengauss_sli", "dnsmasq", "lvs", "nginx", "haproxy",
             "kafka", "tprofiling", "hw", "ksli", "sched"]
# No probe_mng.c of tag 2.0.1 is in the reference index. gala-gopher.md only says 2.0.1's set
# differs slightly from 2.0.2's: this is 2.0.2's without `sli` and `flowtracer` (the two probes
# missing from every 2024 list of probes: the REST API document's table and init_probes.sh).
NAMES_201 = [n for n in NAMES_202 if n not in ("sli", "flowtracer")]

TCP_202 = ["tcp_abnormal", "tcp_rtt", "tcp_windows", "tcp_srtt", "tcp_rate", "tcp_sockbuf",
           "tcp_stats", "tcp_delay"]
PROC_202 = ["proc_syscall", "proc_fs", "proc_dns", "proc_io", "proc_pagecache", "proc_net",
            "proc_offcpu", "proc_ioctl", "proc_pygc"]
BASEINFO_202 = ["cpu", "mem", "nic", "net", "disk", "fs", "proc", "host", "con"]
TPROF_202 = ["oncpu", "syscall_file", "syscall_net", "syscall_lock", "syscall_sched"]
L7 = ["l7_bytes_metrics", "l7_rpc_metrics", "l7_rpc_trace"]

# src/lib/probe/probe_mng.c (2.0.2): probe_range_define[]. `sli` has none in 2.0.2.
RANGES_202 = {
    "flamegraph": ["oncpu", "offcpu", "mem", "mem_glibc", "io"],
    "l7": L7,
    "tcp": TCP_202,
    "socket": ["tcp_socket", "udp_socket"],
    "io": ["io_trace", "io_err", "io_count", "page_cache"],
    "proc": PROC_202,
    "baseinfo": BASEINFO_202,
    "tprofiling": TPROF_202,
    "hw": ["hw_nic", "hw_mem"],
    "sermant": L7,
}
# master (2026-07-27): gala-gopher.md's list. master's probe_mng.c is not in the reference index.
RANGES_MASTER = dict(RANGES_202)
RANGES_MASTER["tprofiling"] = TPROF_202 + ["python_gc", "pthread_sync", "oncpu_sample",
                                           "mem_usage", "mem_glibc", "offcpu"]
RANGES_MASTER["sli"] = ["cpu", "mem", "io", "node", "container", "histogram"]
# 2.0.1: gala-gopher.md names one difference from 2.0.2 (no proc_pygc); no 2.0.1 source to see more.
RANGES_201 = dict(RANGES_202)
RANGES_201["proc"] = [r for r in PROC_202 if r != "proc_pygc"]
# The 2.0.0-era probe_mng.c: probe_range_define[].
RANGES_200 = {
    "flamegraph": ["oncpu", "offcpu", "mem", "io"],
    "l7": L7,
    "tcp": [r for r in TCP_202 if r != "tcp_delay"],
    "socket": ["tcp_socket", "udp_socket"],
    "io": ["io_trace", "io_err", "io_count", "page_cache"],
    "proc": [r for r in PROC_202 if r not in ("proc_ioctl", "proc_pygc")],
    "baseinfo": [r for r in BASEINFO_202 if r != "con"],
    "tprofiling": TPROF_202,
    "hw": ["hw_nic", "hw_mem"],
    "sched": ["sched_systime", "sched_syscall"],
}

# gala-gopher.md: the probes that filter by process or container (master's snoopers-or-blacklist
# rule applies to these).
FILTERING = {"baseinfo", "flamegraph", "l7", "tcp", "socket", "proc", "jvm", "tprofiling",
             "container", "sermant", "sli"}
# src/lib/probe/snooper.c and probe_mng.c (2.0.2): these refuse empty snoopers.
SNOOPERS_REQUIRED_202 = {"tcp", "socket", "container"}

# script/init_probes.sh (the version with --init/--save, shipped with 2.0.2): PROBES=( ... ), the
# only probes --save writes back (lvs, sli and flowtracer are not in it).
SAVE_LIST_202 = ["baseinfo", "virt", "flamegraph", "l7", "tcp", "socket", "io", "proc", "jvm",
                 "postgre_sli", "opengauss_sli", "nginx", "kafka", "tprofiling", "hw", "ksli",
                 "container", "sermant"]


class Flavour:
    def __init__(self, name, names, ranges, http, range_dot, snooper_rule, has_custom, has_ctl,
                 created_state):
        self.name = name
        self.names = names
        self.ranges = ranges
        self.http = http                  # "mhd" (libmicrohttpd, 2.0.0) or "event2" (libevent)
        self.range_dot = range_dot        # master ends "unsupported probe range: NAME" with "."
        self.snooper_rule = snooper_rule  # None, "required-202" or "blacklist"
        self.has_custom = has_custom      # gala-gopher-custom.json (since 2025-01)
        self.has_ctl = has_ctl            # gopher-ctl and its socket (since May 2024)
        # The state GET shows for a probe that a PUT created but never started: 2.0.2's
        # new_probe() sets PROBE_FLAGS_STOPPED ("stopped"); the 2.0.1-era probe_mng.h has
        # PROBE_STATE_UNKNOWN for flags 0, which is what a probe not yet started shows there.
        self.created_state = created_state


FLAVOURS = {
    "2.0.0": Flavour("2.0.0", NAMES_200, RANGES_200, "mhd", False, None, False, False, "unknown"),
    "2.0.1": Flavour("2.0.1", NAMES_201, RANGES_201, "event2", False, None, False, False, "unknown"),
    "2.0.2": Flavour("2.0.2", NAMES_202, RANGES_202, "event2", False, "required-202", False, True,
                     "stopped"),
    "master": Flavour("master", NAMES_202, RANGES_MASTER, "event2", True, "blacklist", True, True,
                      "stopped"),
}

# --------------------------------------------------------------------------------------------
# Reply texts.
# --------------------------------------------------------------------------------------------

REPLY_BUF = 128       # src/lib/http_server/http_server.h HTTP_REPLY_MSG_LEN; cmd_server.c buf[128]
PARSE_ERR_LEN = 200   # src/lib/probe/probe_mng.h PARSE_JSON_ERR_STR_LEN


def snprintf(text, size):
    """What C's snprintf(buf, size, "%s", text) leaves in buf: at most size-1 bytes."""
    return text[:size - 1]


def message_event2(ok, message):
    """src/lib/http_server/http_server.c http_server_reply_message, and (same format, same
    128-byte buffer) src/cmd/cmd_server.c setRespMessage."""
    result = b"success" if ok else b"failed"
    text = b'{ "result": "' + result + b'", "message":"' + message + b'" }\n'
    return snprintf(text, REPLY_BUF)


def message_mhd(ok, message):
    """src/api/rest_server.c RestResponseMessage (libmicrohttpd): no trailing newline."""
    result = b"success" if ok else b"failed"
    text = b'{ "result": "' + result + b'", "message":"' + message + b'" }'
    return snprintf(text, REPLY_BUF)


def dumps(value):
    """cJSON_PrintUnformatted: no spaces, UTF-8 left as it is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def first_key(obj, key):
    """cJSON_GetObjectItem: the first member whose name matches, case-insensitively."""
    if not isinstance(obj, Obj):
        return None
    for k, v in obj:
        if k.lower() == key.lower():
            return v
    return None


class Obj(list):
    """A JSON object as cJSON holds it: members in order, duplicates kept."""


def load_json(text):
    return json.loads(text, object_pairs_hook=Obj)


def plain(value):
    """An Obj tree as ordinary dicts (the first of duplicate members wins, as in cJSON)."""
    if isinstance(value, Obj):
        out = {}
        for k, v in value:
            out.setdefault(k, plain(v))
        return out
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def is_obj(value):
    return isinstance(value, Obj)


def children(value):
    """cJSON_GetArraySize/GetArrayItem work on any container: an object's members count too."""
    if is_obj(value):
        return [v for _, v in value]
    if isinstance(value, list):
        return value
    return []


# --------------------------------------------------------------------------------------------
# The probe manager.
# --------------------------------------------------------------------------------------------

class ParseError(Exception):
    pass


class Probe:
    def __init__(self, name, flavour, snapshot):
        self.name = name
        self.ranges = set()
        self.snoopers = {"proc_id": [], "proc_name": [], "pod_id": [], "container_id": [],
                         "container_name": []}
        self.params = {}
        self.blacklist = None
        self.check_cmd = ""
        self.state = flavour.created_state
        # 2.0.2 sets the binary when the probe is created; 2.0.0 only when a `cmd` is parsed.
        self.bin = "" if flavour.name == "2.0.0" else BINS.get(name, "")

    def snooper_count(self):
        return sum(len(v) for v in self.snoopers.values())


class ProbeManager:
    def __init__(self, flavour, extra_names, snapshot):
        self.flavour = flavour
        self.snapshot = snapshot  # model 2.0.0 on the 2.0.0-era probe_mng.c (see --snapshot-200)
        self.names = list(flavour.names) + [n for n in extra_names if n not in flavour.names]
        self.probes = {}
        self.err = b""    # g_parse_json_err: kept between requests, as in the C global
        self.lock = threading.Lock()

    def canonical(self, name):
        """get_probe_type_by_name: strcasecmp against probe_define[]."""
        for n in self.names:
            if n.lower() == name.lower():
                return n
        return None

    def ranges_of(self, name):
        return self.flavour.ranges.get(name, [])

    def parse_err(self, text):
        self.err = snprintf(text.encode("utf-8", "surrogateescape"), PARSE_ERR_LEN)

    # probe_mng.c parse_probe_json: returns True on success, the message in self.err otherwise.
    def set(self, name, content):
        with self.lock:
            if not self.snapshot:
                self.parse_err("Bad request")
            canon = self.canonical(name)
            if canon is None:
                if not self.snapshot:
                    self.parse_err("invalid probe name")
                # The 2.0.0-era code returns before setting any message: the reply carries
                # whatever the previous failure left in g_parse_json_err.
                return False
            probe = self.probes.get(canon)
            if probe is None:
                # get_probe_by_name() creates the probe before the JSON is even parsed, so a
                # failed PUT still makes GET answer the full document from then on.
                probe = self.probes[canon] = Probe(canon, self.flavour, self.snapshot)
            if self.snapshot:
                self.parse_err("Bad request")
            try:
                doc = load_json(content)
            except ValueError:
                self.parse_err("invalid json format")
                return False
            backup = copy.deepcopy(probe)
            try:
                parsed = self._apply(probe, doc)
            except ParseError as e:
                self.probes[canon] = backup
                self.parse_err(str(e))
                return False
            if not parsed:
                # No key gala-gopher knows: ret stays -1 with "Bad request".
                return False
            return True

    def _apply(self, probe, doc):
        parsed = False
        order = ["cmd", "snoopers", "params", "state"]
        if self.flavour.snooper_rule == "blacklist":
            order = ["cmd", "snoopers", "blacklist", "params", "state"]
        for key in order:
            item = first_key(doc, key)
            if item is None:
                # A document with no key gala-gopher knows stays a "Bad request".
                if key == "state" and parsed and self.flavour.snooper_rule == "blacklist":
                    self._blacklist_rule(probe)
                continue
            parsed = True
            if key == "state" and self.flavour.snooper_rule == "blacklist":
                self._blacklist_rule(probe)
            getattr(self, "_parse_" + key)(probe, item)
        return parsed

    def _parse_cmd(self, probe, item):
        if self.flavour.name == "2.0.0":
            binv = first_key(item, "bin")
            probe.bin = binv if isinstance(binv, str) and binv else BINS.get(probe.name, "")
            chk = first_key(item, "check_cmd")
            if isinstance(chk, str):
                probe.check_cmd = chk
        ranges = first_key(item, "probe")
        if ranges is None:
            return
        defined = self.ranges_of(probe.name)
        chosen = set()
        for r in children(ranges):
            if not isinstance(r, str):
                raise ParseError("invalid probe range: must be string")
            match = [d for d in defined if d.lower() == r.lower()]
            if not match:
                if self.snapshot:
                    continue  # the 2.0.0-era parser ignores sub-items it does not know
                # probe_mng.c probe_parser_range; master adds the final "." (gala-gopher.md).
                raise ParseError("unsupported probe range: %s%s"
                                 % (r, "." if self.flavour.range_dot else ""))
            chosen.add(match[0])
        probe.ranges = chosen
        if not self.snapshot:
            self._at_least_one(probe)

    def _at_least_one(self, probe):
        # probe_mng.c check_probe_range
        if not probe.ranges and self.ranges_of(probe.name):
            raise ParseError("invalid probe ranges: at least one must be set")

    def _parse_snoopers(self, probe, item):
        # src/lib/probe/snooper.c parse_snooper: the new snoopers replace the old ones.
        for k in probe.snoopers:
            probe.snoopers[k] = []
        ids = first_key(item, "proc_id")
        for v in children(ids) if ids is not None else []:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ParseError("Error occurs when parsing snooper proc_id")
            probe.snoopers["proc_id"].append(int(v))
        names = first_key(item, "proc_name")
        for v in children(names) if names is not None else []:
            comm = first_key(v, "comm") if is_obj(v) else None
            cmdline = first_key(v, "cmdline") if is_obj(v) else None
            dbg = first_key(v, "debugging_dir") if is_obj(v) else None
            if (not is_obj(v) or not isinstance(comm, str)
                    or (cmdline is not None and not isinstance(cmdline, str))
                    or (dbg is not None and not isinstance(dbg, str))):
                raise ParseError("Error occurs when parsing snooper proc_name")
            probe.snoopers["proc_name"].append({"comm": comm, "cmdline": cmdline or "",
                                                "debugging_dir": dbg or ""})
        # container_name is in gala-gopher.md's snoopers but not parsed by the snooper.c in the
        # index; it is counted here so that a document naming only containers by name observes.
        for key in ("pod_id", "container_id", "container_name"):
            vals = first_key(item, key)
            for v in children(vals) if vals is not None else []:
                if not isinstance(v, str):
                    raise ParseError("Error occurs when parsing snooper %s" % key)
                probe.snoopers[key].append(v)
        if (self.flavour.snooper_rule == "required-202" and probe.snooper_count() == 0
                and probe.name in SNOOPERS_REQUIRED_202):
            raise ParseError("the snooper for %s cannot be empty" % probe.name)

    def _parse_blacklist(self, probe, item):
        # master only; its source is not in the reference index (gala-gopher.md: `"blacklist":
        # {}` means "observe everything"). The message is this stand-in's own wording.
        if not is_obj(item):
            raise ParseError("invalid blacklist: must be object")
        probe.blacklist = plain(item)

    def _blacklist_rule(self, probe):
        # gala-gopher.md: since 2025-08 a probe that filters by process or container refuses
        # any PUT until it has snoopers or a blacklist. master's source is not in the reference
        # index, so the message is this stand-in's own wording.
        if (probe.name in FILTERING and probe.snooper_count() == 0
                and probe.blacklist is None):
            raise ParseError("the snoopers or blacklist of %s must be set" % probe.name)

    def _parse_params(self, probe, item):
        # probe_params_parser.c checks names and ranges per probe; their messages are not
        # modelled: every member is taken, and members left out keep their values.
        for k, v in (item if is_obj(item) else []):
            probe.params[k] = plain(v)

    def _parse_state(self, probe, item):
        if not isinstance(item, str):
            raise ParseError("invalid state: must be string")
        v = item.lower()
        stopped = "stoped" if self.snapshot else "stopped"
        if v == "running":
            if not self.snapshot:
                self._at_least_one(probe)
            if (self.flavour.snooper_rule == "required-202" and probe.snooper_count() == 0
                    and probe.name in SNOOPERS_REQUIRED_202):
                raise ParseError("the snooper for %s cannot be empty" % probe.name)
            probe.state = "running"
        elif v == stopped:
            if probe.state == "running":
                probe.state = "stopped"
        else:
            raise ParseError("invalid state %s: must be running or %s" % (item, stopped))

    # probe_mng.c get_probe_json: None for a name the build lacks, "{}" for one never touched.
    def get(self, name):
        with self.lock:
            canon = self.canonical(name)
            if canon is None:
                return None
            probe = self.probes.get(canon)
            if probe is None:
                return "{}"
            return dumps(self.document(probe))

    def document(self, probe):
        cmd = {"bin": probe.bin}
        if self.flavour.name == "2.0.0":
            cmd["check_cmd"] = probe.check_cmd
        cmd["probe"] = [r for r in self.ranges_of(probe.name) if r in probe.ranges]
        # snooper.c print_snooper prints these four lists.
        doc = {"cmd": cmd,
               "snoopers": {"proc_id": probe.snoopers["proc_id"],
                            "proc_name": probe.snoopers["proc_name"],
                            "pod_id": probe.snoopers["pod_id"],
                            "container_id": probe.snoopers["container_id"]}}
        if self.snapshot:
            return doc  # the 2.0.0-era printers: cmd and snoopers only, no params, no state
        if probe.blacklist is not None:
            doc["blacklist"] = probe.blacklist
        # The real printer lists every parameter of the probe with its current value; the
        # stand-in shows only those a document has set.
        doc["params"] = probe.params
        doc["state"] = probe.state
        return doc

    def snapshot_state(self):
        out = {}
        for name in self.names:
            p = self.probes.get(name)
            if p is None:
                out[name] = {"configured": False, "state": None, "json": "{}"}
            else:
                out[name] = {"configured": True, "state": p.state,
                             "probe": [r for r in self.ranges_of(name) if r in p.ranges],
                             "snoopers": p.snoopers, "blacklist": p.blacklist,
                             "params": p.params, "json": dumps(self.document(p))}
        return out


# --------------------------------------------------------------------------------------------
# The daemon.
# --------------------------------------------------------------------------------------------

class Daemon:
    def __init__(self, args):
        self.flavour = FLAVOURS[args.flavour]
        self.state_dir = args.state
        extra = list(args.names_extra or [])
        if args.custom:
            if not self.flavour.has_custom:
                die("gala-gopher %s has no gala-gopher-custom.json (it came in 2025-01, master)"
                    % self.flavour.name)
            try:
                with open(args.custom, encoding="utf-8") as f:
                    custom = json.load(f, object_pairs_hook=Obj)
            except (OSError, ValueError) as e:
                die("cannot read %s: %s" % (args.custom, e))
            if not is_obj(custom):
                die("%s: the top level is not a JSON object" % args.custom)
            extra += [k for k, _ in custom]
        self.mgr = ProbeManager(self.flavour, extra, args.snapshot_200)
        self.log_lock = threading.Lock()
        self.set_lock = threading.Lock()
        os.makedirs(self.state_dir, exist_ok=True)
        self.write_state()

    def write_state(self):
        data = {"flavour": self.flavour.name, "pid": os.getpid(),
                "probes": self.mgr.snapshot_state()}
        atomic_write(os.path.join(self.state_dir, "probes.json"),
                     (json.dumps(data, indent=1) + "\n").encode())

    def record(self, entry):
        line = json.dumps(entry, ensure_ascii=True) + "\n"
        with self.log_lock:
            with open(os.path.join(self.state_dir, "requests.jsonl"), "a") as f:
                f.write(line)

    def set(self, name, content):
        # One change and its mirror at a time, so probes.json never lags behind a reply.
        with self.set_lock:
            ok = self.mgr.set(name, content)
            self.write_state()
        return ok


def atomic_write(path, data):
    tmp = "%s.tmp.%d.%d" % (path, os.getpid(), threading.get_ident())
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def text_of(raw):
    return raw.decode("utf-8", "surrogateescape")


def body_fields(raw):
    return {"body": raw.decode("utf-8", "replace"), "body_hex": raw.hex()}


# ---- REST --------------------------------------------------------------------------------------

REASONS = {100: "Continue", 200: "OK", 400: "Bad Request", 404: "Not Found",
           405: "Method Not Allowed", 501: "Not Implemented"}


class HttpRequest:
    pass


def read_request(rfile, wfile):
    """One HTTP/1.x request, or None when the peer closed or sent something unreadable."""
    line = rfile.readline(65537)
    while line in (b"\r\n", b"\n"):
        line = rfile.readline(65537)
    if not line or not line.endswith(b"\n"):
        return None
    parts = line.decode("latin-1").strip().split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    req = HttpRequest()
    req.method, req.target, req.version = parts
    req.headers = []
    while True:
        h = rfile.readline(65537)
        if not h:
            return None
        if h in (b"\r\n", b"\n"):
            break
        if b":" not in h or len(req.headers) > 100:
            return None
        k, v = h.decode("latin-1").split(":", 1)
        req.headers.append((k.strip().lower(), v.strip()))
    hdr = dict(req.headers)
    if hdr.get("expect", "").lower() == "100-continue":
        wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        wfile.flush()
    body = b""
    if "chunked" in hdr.get("transfer-encoding", "").lower():
        while True:
            size_line = rfile.readline(65537)
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                return None
            if size == 0:
                while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += rfile.read(size)
            rfile.readline(65537)
    elif "content-length" in hdr:
        try:
            n = int(hdr["content-length"])
        except ValueError:
            return None
        body = rfile.read(n)
        if len(body) < n:
            return None
    req.body = body
    req.header = hdr
    conn = hdr.get("connection", "").lower()
    if req.version == "HTTP/1.0":
        req.close = conn != "keep-alive"
    else:
        req.close = conn == "close"
    return req


def http_date():
    return email_utils.formatdate(usegmt=True)


def response_event2(req, status, body, ctype="application/json", extra=()):
    """libevent's evhttp_send_reply: the handler's Content-Type, then Date and Content-Length,
    then Connection: close when the request asked for it."""
    head = ["%s %d %s" % (req.version, status, REASONS[status])]
    head += ["%s: %s" % kv for kv in extra]
    head.append("Content-Type: " + ctype)
    if req.version != "HTTP/1.0":
        head.append("Date: " + http_date())
    if req.version != "HTTP/1.0" or not req.close:
        head.append("Content-Length: %d" % len(body))
    if req.close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def response_mhd(req, status, body):
    """libmicrohttpd: the handler's header (note gala-gopher's own spelling "applicaton/json"),
    then Content-Length and Date."""
    head = ["%s %d %s" % (req.version, status, REASONS[status])]
    if req.close:
        head.append("Connection: close")
    head.append("Content-Type: applicaton/json")
    head.append("Content-Length: %d" % len(body))
    head.append("Date: " + http_date())
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


# libevent's evhttp_send_error page (a method outside evhttp_set_allowed_methods).
LIBEVENT_ERROR = ("<HTML><HEAD>\n<TITLE>%d %s</TITLE>\n</HEAD><BODY>\n<H1>%s</H1>\n"
                  "</BODY></HTML>\n")


def handle_event2(daemon, req):
    """src/api/rest_server_event2.c (2.0.1 and later)."""
    mgr = daemon.mgr
    # http_get_request_uri_path: the path without the query, into a 64-byte buffer.
    path = urlparse.urlsplit(req.target).path
    path = snprintf(path.encode("latin-1"), 64).decode("latin-1")
    if req.method not in ("GET", "PUT"):
        page = (LIBEVENT_ERROR % (501, REASONS[501], REASONS[501])).encode()
        req.close = True
        return 501, response_event2(req, 501, page, "text/html")
    if len(path) <= 1:
        body = message_event2(False, b"url not found")
        return 404, response_event2(req, 404, body)
    name = path[1:]
    if req.method == "GET":
        doc = mgr.get(name)
        if doc is None:
            return 404, response_event2(req, 404, message_event2(False, b"url not found"))
        return 200, response_event2(req, 200, doc.encode("utf-8", "surrogateescape"))
    data = req.body
    if len(data) > 1024 * 1024:
        mgr.parse_err("put data size exceeds %d" % (1024 * 1024))
        return 400, response_event2(req, 400, message_event2(False, mgr.err))
    data = data.split(b"\0", 1)[0]  # strncpy into a C string
    if not data.startswith(b"json="):
        mgr.parse_err("put data must start with json=")
        return 400, response_event2(req, 400, message_event2(False, mgr.err))
    if daemon.set(name, text_of(data[5:])):
        return 200, response_event2(req, 200, message_event2(True, b"New config takes effect"))
    return 400, response_event2(req, 400, message_event2(False, mgr.err))


def handle_mhd(daemon, req):
    """src/api/rest_server.c (libmicrohttpd, 2.0.0). Only a POST version of this file is in the
    reference index; 2.0.0 took PUT (its documentation's examples), handled the same way."""
    mgr = daemon.mgr
    path = urlparse.unquote(urlparse.urlsplit(req.target).path, errors="surrogateescape")
    if req.method == "PUT":
        # MHD_create_post_processor refuses any other encoding; the handler then returns MHD_NO
        # and libmicrohttpd closes the connection without a reply.
        ctype = req.header.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return None, None
    if len(path) <= 1:
        return 404, response_mhd(req, 404, message_mhd(False, b"Url not found"))
    name = path[1:]
    if req.method == "GET":
        doc = mgr.get(name)
        if doc is None:
            return 404, response_mhd(req, 404, message_mhd(False, b"Url not found"))
        return 200, response_mhd(req, 200, doc.encode("utf-8", "surrogateescape"))
    if req.method != "PUT":
        return 405, response_mhd(req, 405, message_mhd(False, b"Method not allowed"))
    # RestPostIterator: the form is decoded (percent escapes, "+" as space); it answers MHD_NO
    # to its first call, so only the first field is ever seen, and only if it is "json". A value
    # of more than POST_BUFFER_SIZE - 1 (2047) bytes is dropped ("Post data size exceeds 2048,
    # ignore"); snprintf(post_data, 2047, ...) keeps at most 2046 of the rest.
    post = None
    first = req.body.split(b"&", 1)[0]
    key, _, value = first.partition(b"=")
    if urlparse.unquote_to_bytes(key.replace(b"+", b" ")) == b"json":
        decoded = urlparse.unquote_to_bytes(value.replace(b"+", b" "))
        if 0 < len(decoded) <= 2047:
            post = decoded.split(b"\0", 1)[0][:2046]
    if post:
        if daemon.set(name, text_of(post)):
            return 200, response_mhd(req, 200, message_mhd(True, b"New config takes effect"))
        # The reference rest_server.c answers "Bad request" whatever went wrong; the 2.0.0
        # probe manager keeps its reason in g_parse_json_err, which gala-gopher.md says the reply
        # carries ("same documents as gopher-ctl"). --snapshot-200 keeps the fixed text.
        if not mgr.snapshot:
            return 400, response_mhd(req, 400, message_mhd(False, mgr.err))
    return 400, response_mhd(req, 400, message_mhd(False, b"Bad request"))


# ---- command socket (the private protocol between this daemon and the ctl stand-in) ----------
# Request: one JSON line {"cmd": "probe"|"metric", "op": "get"|"set", "name", "conf_hex"}.
# Reply: the byte count, a newline, then exactly what gopher-ctl prints.

def ctl_reply(daemon, request):
    """src/cmd/cmd_server.c processRequest."""
    mgr = daemon.mgr
    if request.get("cmd") == "metric":
        return b""  # no metrics log to send: gala-gopher sends a zero size
    name = request.get("name", "")
    if request.get("op") == "get":
        doc = mgr.get(name)
        if doc is None:
            return message_event2(False, b"Failed to get probe config")
        return doc.encode("utf-8", "surrogateescape")
    conf = bytes.fromhex(request.get("conf_hex", ""))
    if daemon.set(name, text_of(conf)):
        return message_event2(True, b"New config takes effect")
    return message_event2(False, mgr.err)


def server_classes():
    """The REST and command-socket servers (defined here so that gopher-ctl runs never
    import socketserver)."""

    class RestHandler(socketserver.StreamRequestHandler):
        def handle(self):
            daemon = self.server.daemon
            while True:
                try:
                    req = read_request(self.rfile, self.wfile)
                except (OSError, ValueError):
                    return
                if req is None:
                    return
                if daemon.flavour.http == "mhd":
                    status, raw = handle_mhd(daemon, req)
                else:
                    status, raw = handle_event2(daemon, req)
                entry = {"channel": "rest", "method": req.method, "target": req.target,
                         "probe": urlparse.urlsplit(req.target).path[1:],
                         "content_type": req.header.get("content-type"), "status": status}
                entry.update(body_fields(req.body))
                if raw is not None:
                    entry["reply"] = raw.split(b"\r\n\r\n", 1)[1].decode("utf-8", "replace")
                daemon.record(entry)
                if raw is None:
                    return
                try:
                    self.wfile.write(raw)
                    self.wfile.flush()
                except OSError:
                    return
                if req.close:
                    return


    class RestServer(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    class CtlHandler(socketserver.StreamRequestHandler):
        def handle(self):
            daemon = self.server.daemon
            self.connection.settimeout(60)  # SOCK_TIMEOUT_SEC
            try:
                request = json.loads(self.rfile.readline(4 * 1024 * 1024))
            except (OSError, ValueError):
                return
            out = ctl_reply(daemon, request)
            entry = {"channel": "ctl", "method": request.get("op") or request.get("cmd"),
                     "probe": request.get("name")}
            conf = bytes.fromhex(request.get("conf_hex", ""))
            entry.update(body_fields(conf))
            entry["reply"] = out.decode("utf-8", "replace")
            daemon.record(entry)
            try:
                self.wfile.write(b"%d\n" % len(out) + out)
            except OSError:
                pass


    class CtlServer(socketserver.UnixStreamServer):
        # The real command server accepts and answers one client at a time, backlog 5
        # (cmd_server.c CmdServer, GALA_GOPHER_LISTEN_LEN).
        request_queue_size = 5

    return RestHandler, RestServer, CtlHandler, CtlServer


def daemon_main(args):
    flavour = FLAVOURS[args.flavour]
    if args.no_rest and not flavour.has_ctl:
        die("gala-gopher %s always runs its REST server (rest_api_on came with 2.0.2)"
            % flavour.name)
    if args.cmd_socket and not flavour.has_ctl:
        die("gala-gopher %s has no gopher-ctl command socket (it came with 2.0.2)" % flavour.name)
    if args.snapshot_200 and flavour.name != "2.0.0":
        die("--snapshot-200 models 2.0.0 only")
    RestHandler, RestServer, CtlHandler, CtlServer = server_classes()
    daemon = Daemon(args)
    threads = []
    servers = []
    port = None
    if not args.no_rest:
        try:
            rest = RestServer((args.rest_bind, args.rest_port), RestHandler)
        except OSError as e:
            die("Failed to bind to addr %s, port %d, err=%s"
                % (args.rest_bind, args.rest_port, os.strerror(e.errno)))
        rest.daemon = daemon
        port = rest.server_address[1]
        servers.append(rest)
    if flavour.has_ctl:
        path = args.cmd_socket or DEFAULT_SOCKET
        os.makedirs(os.path.dirname(path) or ".", mode=0o750, exist_ok=True)
        if os.path.lexists(path):
            os.unlink(path)  # cmd_server.c cmdServerCreate unlinks a stale socket
        ctl = CtlServer(path, CtlHandler)
        os.chmod(path, 0o660)
        ctl.daemon = daemon
        servers.append(ctl)
    for s in servers:
        t = threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        t.start()
        threads.append(t)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    atomic_write(os.path.join(args.state, "ready"),
                 ("%s\n" % (port if port is not None else "none")).encode())
    print("gala-gopher stand-in %s: REST %s, command socket %s" % (
        flavour.name, "%s:%d" % (args.rest_bind, port) if port is not None else "off",
        (args.cmd_socket or DEFAULT_SOCKET) if flavour.has_ctl else "none"), flush=True)
    while not stop.is_set():
        stop.wait(0.5)
    for s in servers:
        s.shutdown()
        s.server_close()
    return 0


# --------------------------------------------------------------------------------------------
# gopher-ctl (src/cmd/cmd_client.c).
# --------------------------------------------------------------------------------------------

USAGE = ("Usage:\n"
         "   gopher-ctl probe get <probe_name>\n"
         "   gopher-ctl probe set <probe_name> <probe_config>\n"
         "   gopher-ctl metric\n")
MAX_PROBE_CONF_SIZE = 1024 * 1024


def ctl_parse(argv):
    """cmdRequestParse: the request, or the text gopher-ctl prints before its usage."""
    if len(argv) < 1:
        return None, "Please specify the request type\n"
    if argv[0] == "metric":
        return {"cmd": "metric"}, None
    if argv[0] != "probe":
        return None, "Unknown request type: %s\n" % argv[0]
    rest = argv[1:]
    if len(rest) < 1:
        return None, "Please specify the probe operation\n"
    if rest[0] not in ("get", "set"):
        return None, "Unknown probe operation: %s\n" % rest[0]
    if len(rest) < 2:
        return None, "Please specify the probe name\n"
    # "The probe name(%s) is too long" depends on MAX_PROBE_NAME_LEN, whose value the reference
    # index does not show: not modelled.
    req = {"cmd": "probe", "op": rest[0], "name": rest[1]}
    if rest[0] == "set":
        if len(rest) < 3:
            return None, "Please specify the probe config\n"
        conf = os.fsencode(rest[2])
        if len(conf) >= MAX_PROBE_CONF_SIZE:
            return None, "The probe config(%s) is too long\n" % rest[2]
        req["conf_hex"] = conf.hex()
    return req, None


def ctl_call(path, request):
    """(exit status, bytes printed) of one gopher-ctl run against the socket at path."""
    if len(os.fsencode(path)) >= 108:
        return 255, ("The socket path(%s) is too long\n" % path).encode()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # SetSockTimeout: SOCK_TIMEOUT_SEC on a blocking socket. A blocking connect waits while the
    # server's backlog (5) is full, as gopher-ctl's does; a socket with a Python timeout would
    # be non-blocking and fail at once with EAGAIN instead.
    timeout = struct.pack("ll", 60, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeout)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeout)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        return 255, ("Failed to connect to gopher cmd server, err=%s\n"
                     % os.strerror(e.errno or errno.EIO)).encode()
    try:
        s.sendall(json.dumps(request).encode() + b"\n")
        f = s.makefile("rb")
        header = f.readline()
        if not header.endswith(b"\n"):
            return 255, b"Failed to get response size\n"
        size = int(header)
        out = f.read(size)
        if len(out) < size:
            return 255, out + b"No data can be read\n"
        return 0, out
    except (OSError, ValueError):
        return 255, b"Failed to get response size\n"
    finally:
        s.close()


def ctl_main(argv):
    log = os.environ.get("GOPHER_STANDIN_CTL_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"pid": os.getpid(), "argv": argv}) + "\n")
    if os.environ.get("GOPHER_STANDIN_HANG") == "1":
        while True:
            time.sleep(3600)
    request, error = ctl_parse(argv)
    out = sys.stdout.buffer
    if request is None:
        out.write((error + USAGE).encode("utf-8", "surrogateescape"))
        out.flush()
        return 255
    path = os.environ.get("GOPHER_STANDIN_SOCKET", DEFAULT_SOCKET)
    status, text = ctl_call(path, request)
    out.write(text)
    out.flush()
    return status


# --------------------------------------------------------------------------------------------
# init_probes.sh (script/init_probes.sh).
# --------------------------------------------------------------------------------------------

MAX_INIT_LINES = 30


def bash_read_lines(data):
    """The lines `while read line` hands to its body: backslashes removed (a backslash before a
    newline joins the lines), leading and trailing blanks dropped, and a last line without its
    newline never seen (read fails on it, which ends the loop)."""
    lines = []
    cur = []
    i = 0
    n = len(data)
    while i < n:
        c = data[i]
        if c == "\\" and i + 1 < n:
            if data[i + 1] != "\n":
                cur.append(data[i + 1])
            i += 2
            continue
        if c == "\\":
            i += 1
            continue
        if c == "\n":
            lines.append("".join(cur).strip(" \t\n"))
            cur = []
        else:
            cur.append(c)
        i += 1
    return lines


def replay_items(text):
    """(probe, document) pairs the script sends, and whether it stops on a line it rejects."""
    items = []
    for line in bash_read_lines(text):
        if line == "" or line.startswith("#"):
            continue
        words = line.split()  # echo $line: word splitting (globbing is not modelled)
        url = words[0]
        joined = " ".join(words)
        rest = joined.split(" ", 1)[1] if " " in joined else joined  # cut -f 1 --complement
        put_data = "".join(rest.split())  # sed 's/[[:space:]]//g'
        if put_data == "":
            return items, True
        items.append((url, put_data))
    return items, False


def wait_for(check):
    # check_cmd_server: five tries, half a second apart, then exit 1.
    for _ in range(5):
        if check():
            return True
        time.sleep(0.5)
    return False


def ctl_listening(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        s.sendall(b"\n")  # an empty request the server drops: only the listening is probed
        return True
    except OSError:
        return False
    finally:
        s.close()


def rest_listening(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def rest_put(host, port, url, put_data):
    """curl -s -X PUT http://localhost:PORT/URL -d json=DATA -o /dev/null"""
    import http.client
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("PUT", "/" + url, body=b"json=" + os.fsencode(put_data),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        conn.getresponse().read()
    except OSError:
        pass
    finally:
        conn.close()


def init_main(args):
    sock = args.socket or os.environ.get("GOPHER_STANDIN_SOCKET", DEFAULT_SOCKET)
    rest = None
    if args.rest:
        host, _, port = args.rest.rpartition(":")
        rest = (host or "127.0.0.1", int(port))
    if rest:
        up = wait_for(lambda: rest_listening(*rest))
    else:
        up = wait_for(lambda: ctl_listening(sock))
    if not up:
        return 1
    if args.replay:
        try:
            with open(args.probes_init, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
        except OSError as e:
            print("init-probes: cannot read %s: %s" % (args.probes_init, e.strerror),
                  file=sys.stderr)
            return 1
        items, aborted = replay_items(text)
        # gala-gopher.md: at most 30 lines are replayed. No init_probes.sh in the reference index
        # shows that cap; it is kept because the documentation states it.
        if len(items) > MAX_INIT_LINES:
            items, aborted = items[:MAX_INIT_LINES], False
        for url, put_data in items:
            if rest:
                rest_put(rest[0], rest[1], url, put_data)
            else:
                req = {"cmd": "probe", "op": "set", "name": url,
                       "conf_hex": os.fsencode(put_data).hex()}
                ctl_call(sock, req)  # > /dev/null
        return 1 if aborted else 0
    # --save (2.0.2's save_probes_json): truncate the file in place (owner and mode stay, and
    # so do not the comments), then one line per probe of the list whose reply is neither
    # empty, nor "{}", nor has "failed" anywhere in it.
    if not FLAVOURS[args.flavour].has_ctl:
        print("init-probes: the init_probes.sh of gala-gopher %s has no --save" % args.flavour,
              file=sys.stderr)
        return 2
    if not os.path.isfile(args.probes_init):
        return 1
    names = SAVE_LIST_202
    if args.flavour == "master":
        # master's script is not in the reference index; gala-gopher.md says it saves "every
        # probe": the built-in names, then the custom ones given with --names-extra.
        names = NAMES_202 + list(args.names_extra or [])
    with open(args.probes_init, "r+b") as f:
        f.truncate(0)
    for url in names:
        _, out = ctl_call(sock, {"cmd": "probe", "op": "get", "name": url})
        resp = out.rstrip(b"\n")  # $(...) drops trailing newlines
        if not resp or b"failed" in resp.lower() or resp == b"{}":
            continue
        with open(args.probes_init, "ab") as f:
            f.write(os.fsencode(url) + b" " + resp + b"\n")
    return 0


# --------------------------------------------------------------------------------------------

def die(msg):
    print("gala-gopher stand-in: " + msg, file=sys.stderr)
    sys.exit(2)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "ctl":
        return ctl_main(sys.argv[2:])
    p = argparse.ArgumentParser(prog="gala_gopher_standin.py",
                                description="Stand-in for gala-gopher 2.x (see the file's header).")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("daemon", help="run the stand-in gala-gopher daemon")
    d.add_argument("--flavour", required=True, choices=sorted(FLAVOURS))
    d.add_argument("--state", required=True, help="directory for ready, probes.json, requests.jsonl")
    d.add_argument("--rest-port", type=int, default=9999, help="0 picks a free port")
    d.add_argument("--rest-bind", default="127.0.0.1")
    d.add_argument("--no-rest", action="store_true",
                   help="REST off (2.0.2 and master without rest_api_on = true)")
    d.add_argument("--cmd-socket", help="gopher-ctl's socket (2.0.2, master; default %s)"
                   % DEFAULT_SOCKET)
    d.add_argument("--custom", help="gala-gopher-custom.json: its top-level keys are probes (master)")
    d.add_argument("--names-extra", nargs="*", default=[], metavar="NAME",
                   help="more probe names this build answers for (no sub-items)")
    d.add_argument("--snapshot-200", action="store_true",
                   help="2.0.0 as the 2.0.0-era probe_mng.c in the reference index has it: state "
                        "'stoped', unknown sub-items ignored, no at-least-one check, GET without "
                        "params/state, fixed 'Bad request' replies")
    sub.add_parser("ctl", help="gopher-ctl: ctl probe get NAME | probe set NAME JSON | metric")
    i = sub.add_parser("init-probes", help="init_probes.sh: replay or save probes.init")
    mode = i.add_mutually_exclusive_group(required=True)
    mode.add_argument("--replay", action="store_true", help="--init: apply probes.init")
    mode.add_argument("--save", action="store_true", help="rewrite probes.init from live state")
    i.add_argument("--probes-init", required=True)
    i.add_argument("--flavour", default="2.0.2", choices=sorted(FLAVOURS))
    i.add_argument("--socket", help="command socket (default: $GOPHER_STANDIN_SOCKET or %s)"
                   % DEFAULT_SOCKET)
    i.add_argument("--rest", metavar="HOST:PORT",
                   help="replay over REST instead (2.0.1's script used curl)")
    i.add_argument("--names-extra", nargs="*", default=[], metavar="NAME",
                   help="custom probe names --save also asks about (master)")
    args = p.parse_args()
    if args.command == "daemon":
        return daemon_main(args)
    return init_main(args)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""HTTP and JSON checks of the end-to-end suite, run inside the container.

usage: api_check.py ADDR TOKEN CHECK [ARGS...]
Each check exits 0 when every assertion holds, else prints what differed and exits 1.
"""
import http.client
import json
import os
import subprocess
import sys
import time

ADDR, TOKEN, CHECK = sys.argv[1], sys.argv[2], sys.argv[3]
ARGS = sys.argv[4:]
HOST, PORT = ADDR.rsplit(":", 1)
GOPHER_CONF = "/opt/gala-gopher/gala-gopher.conf"
SAMPLE = "/etc/e2e-sample.conf"
failures = []


def call(method, path, body=None, token=TOKEN):
    conn = http.client.HTTPConnection(HOST, int(PORT), timeout=30)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["access_token"] = token
    data = None if body is None else json.dumps(body)
    conn.request(method, path, body=data, headers=headers)
    r = conn.getresponse()
    raw = r.read().decode()
    conn.close()
    try:
        return r.status, json.loads(raw)
    except ValueError:
        return r.status, raw


def check(cond, what, got=None):
    if not cond:
        failures.append(what + ("" if got is None else f": got {got!r}"))
    return cond


class Abort(Exception):
    """An answer that makes the rest of the check meaningless (already recorded)."""


def envelope(method, path, body=None, code=200, token=TOKEN):
    status, reply = call(method, path, body, token)
    if not (check(status == 200, f"{method} {path}: HTTP status 200", status)
            and check(isinstance(reply, dict) and reply.get("code") == code,
                      f"{method} {path}: code {code}", reply)):
        raise Abort()
    return reply


def systemctl(*args):
    return subprocess.run(["systemctl", *args], capture_output=True, text=True).stdout.strip()


def unit_prop(unit, prop):
    return systemctl("show", "-p", prop, "--value", unit)


# Every endpoint: (method, path, body). file/collect has no envelope.
ENDPOINTS = [
    ("GET", "/v1/agent/application/info", None),
    ("POST", "/v1/agent/host/info", []),
    ("GET", "/v1/agent/host/info", None),
    ("GET", "/v1/agent/plugin/info", None),
    ("POST", "/v1/agent/plugin/start?plugin_name=gala-gopher", None),
    ("POST", "/v1/agent/plugin/stop?plugin_name=gala-gopher", None),
    ("POST", "/v1/agent/collect/items/change", {"gala-gopher": {"no_such_probe": "on"}}),
    ("POST", "/v1/agent/file/collect", [SAMPLE]),
]


def wrong_token():
    """Every endpoint answers 1201 'the session is invalid' with a wrong token."""
    for method, path, body in ENDPOINTS:
        status, reply = call(method, path, body, token=TOKEN + "-wrong")
        check(status == 200 and isinstance(reply, dict) and reply.get("code") == 1201
              and reply.get("msg") == "the session is invalid",
              f"{method} {path} with a wrong token: HTTP 200 code 1201", (status, reply))


def registered():
    """The manager got what api.md §3 says; the token is saved 0600."""
    record = json.load(open(ARGS[0]))
    check(record["path"] == "/manage/host/add", "manager path", record["path"])
    check((record["content_type"] or "").startswith("application/json"),
          "manager Content-Type", record["content_type"])
    body = json.loads(record["body"])
    want = {"host_name": "e2e-host", "host_group_name": "e2e-group", "management": False,
            "username": "admin", "password": "changeme", "agent_port": int(PORT)}
    for k, v in want.items():
        check(body.get(k) == v, f"manager body {k} = {v!r}", body.get(k))
    check(set(body) == set(want) | {"host_id", "public_ip"}, "manager body keys", sorted(body))
    machine_id = open("/etc/machine-id").read().strip()
    check(body.get("host_id") in (machine_id,) or len(body.get("host_id") or "") == 32,
          "host_id: SMBIOS UUID or machine-id (32 hex digits)", body.get("host_id"))
    check(body.get("public_ip") == "127.0.0.1", "public_ip towards 127.0.0.1", body.get("public_ip"))
    st = os.stat("/etc/aops/agent_token.json")
    check(st.st_mode & 0o777 == 0o600, "token file mode 0600", oct(st.st_mode & 0o777))
    saved = json.load(open("/etc/aops/agent_token.json"))
    check(saved == {"access_token": TOKEN}, "token file content", saved)


def endpoints():
    """Every endpoint answers per api.md with the saved token."""
    r = envelope("GET", "/v1/agent/application/info")
    if r:
        check(r.get("msg") == "operate success", "application/info msg", r.get("msg"))
        check(isinstance(r.get("resp", {}).get("running"), list), "application/info resp.running", r)
    for method in ("POST", "GET"):
        r = envelope(method, "/v1/agent/host/info", [] if method == "POST" else None)
        if r:
            resp = r.get("resp", {})
            check(sorted(resp) == ["cpu", "disk", "memory", "os"], f"{method} host/info keys", sorted(resp))
            os_info = resp.get("os") or {}
            check(os_info.get("os_version", "").startswith("Debian GNU/Linux 12"),
                  "host/info os_version from os-release", os_info.get("os_version"))
            check(bool(os_info.get("kernel")), "host/info kernel non-empty", os_info.get("kernel"))
            check(resp.get("cpu", {}).get("core_count") == str(os.cpu_count()),
                  "host/info cpu core_count", resp.get("cpu"))
    r = envelope("POST", "/v1/agent/host/info", ["os"])
    if r:
        check(sorted(r.get("resp", {})) == ["os"], "host/info [os] only os", r.get("resp"))
    envelope("POST", "/v1/agent/host/info", ["gpu"], code=1000)
    r = envelope("GET", "/v1/agent/plugin/info")
    if r:
        names = [p.get("plugin_name") for p in r.get("resp", [])]
        check(names == ["gala-gopher"], "plugin/info plugins", names)
    envelope("POST", "/v1/agent/plugin/start?plugin_name=nosuch", code=1000)
    r = envelope("POST", "/v1/agent/collect/items/change", {"gala-gopher": {"no_such_probe": "on"}})
    if r:
        check(r.get("resp") == {"gala-gopher": {"success": [], "failure": ["no_such_probe"]}},
              "collect/items/change of an unknown probe", r.get("resp"))
    # SAMPLE is made by the suite: root:adm 0640, like many configuration files.
    status, reply = call("POST", "/v1/agent/file/collect", [SAMPLE, "/nonexistent"])
    check(status == 200 and isinstance(reply, dict), "file/collect HTTP 200 JSON", (status, reply))
    if isinstance(reply, dict):
        check(reply.get("success_files") == [SAMPLE], "file/collect success_files", reply)
        check(reply.get("fail_files") == ["/nonexistent"], "file/collect fail_files", reply)
        infos = reply.get("infos") or [{}]
        check(infos[0].get("path") == SAMPLE, "file/collect path", infos[0].get("path"))
        check(infos[0].get("content") == open(SAMPLE).read(), "file/collect content",
              infos[0].get("content"))
        check(infos[0].get("file_attr") == {"mode": "0640", "owner": "root", "group": "adm"},
              "file/collect file_attr", infos[0].get("file_attr"))
    status, reply = call("GET", "/v1/agent/application/info", token=None)
    check(status == 400 and isinstance(reply, dict)
          and reply.get("detail") == "Missing header parameter 'access_token'",
          "missing token header: 400 problem JSON", (status, reply))
    wrong_token()


def probes_in(text):
    """(name, switch) pairs of the libconfig file, in file order (the fixture's simple layout)."""
    out, name = [], None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("name = "):
            name = s.split('"')[1]
        elif s.startswith("switch = ") and name:
            out.append((name, s.split('"')[1]))
            name = None
    return out


def gopher_info():
    r = envelope("GET", "/v1/agent/plugin/info")
    return (r or {}).get("resp", [{}])[0] if r else {}


def wait_for(pred, what, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.2)
    return check(False, what)


def running_apps():
    r = envelope("GET", "/v1/agent/application/info")
    return (r or {}).get("resp", {}).get("running")


def plugin():
    """plugin start/stop/info, limits, probe switching, application/info (issue step 5)."""
    info = gopher_info()
    check(info.get("is_installed") is True, "plugin/info is_installed", info)
    check(info.get("status") == "inactive", "plugin/info status before start", info.get("status"))
    limits = {x.get("name"): x.get("limit_value") for x in info.get("resource", [])}
    check(limits == {"cpu": "20%", "memory": "40M"}, "plugin/info limits 20% / 40M", limits)
    expected = [{"probe_name": n, "probe_status": s} for n, s in probes_in(open(GOPHER_CONF).read())]
    got = [{"probe_name": i.get("probe_name"), "probe_status": i.get("probe_status")}
           for i in info.get("collect_items", [])]
    check(got == expected, "plugin/info collect_items follow the file", got)
    auto = {i.get("probe_name"): i.get("support_auto") for i in info.get("collect_items", [])}
    check(auto.get("lvs") is True and auto.get("redis") is False, "support_auto from start_check", auto)

    check(running_apps() == [], "application/info: nothing runs yet", running_apps())
    envelope("POST", "/v1/agent/plugin/start?plugin_name=gala-gopher")
    check(systemctl("is-active", "gala-gopher.service") == "active", "gala-gopher active after start")
    info = gopher_info()
    check(info.get("status") == "active", "plugin/info status after start", info.get("status"))
    current = {x.get("name"): x.get("current_value") for x in info.get("resource", [])}
    check(all(v is not None for v in current.values()) and len(current) == 2,
          "resource current values while active", current)
    check(running_apps() == ["gala-gopher"], "application/info with gala-gopher", running_apps())
    subprocess.run(["systemctl", "start", "nginx.service"], check=True)
    check(running_apps() == ["nginx", "gala-gopher"], "application/info while nginx runs", running_apps())
    subprocess.run(["systemctl", "stop", "nginx.service"], check=True)
    check(running_apps() == ["gala-gopher"], "application/info after nginx stops", running_apps())

    before = open(GOPHER_CONF).read()
    st = os.stat(GOPHER_CONF)
    started = unit_prop("gala-gopher.service", "ExecMainStartTimestampMonotonic")
    change = {"tcp": "off", "redis": "on", "lvs": "off", "nginx": "auto", "no_such_probe": "on"}
    r = envelope("POST", "/v1/agent/collect/items/change", {"gala-gopher": change})
    if r:
        # The request is a JSON object: its key order carries no meaning, so neither do the lists'.
        lists = r.get("resp", {}).get("gala-gopher", {})
        check(sorted(lists) == ["failure", "success"]
              and sorted(lists["success"]) == ["lvs", "redis", "tcp"]
              and sorted(lists["failure"]) == ["nginx", "no_such_probe"],
              "collect/items/change success/failure", r.get("resp"))
    after = open(GOPHER_CONF).read()
    b_lines, a_lines = before.splitlines(True), after.splitlines(True)
    check(len(b_lines) == len(a_lines), "same number of lines after the change")
    diffs = [(b, a) for b, a in zip(b_lines, a_lines) if b != a]
    check(len(diffs) == 3 and all(b.strip().startswith("switch = ") and
                                  a == b.replace(f'"{b.split(chr(34))[1]}"', f'"{a.split(chr(34))[1]}"')
                                  for b, a in diffs),
          "only the three switch values changed", diffs)
    want = dict(probes_in(before))
    want.update({"tcp": "off", "redis": "on", "lvs": "off"})
    check(dict(probes_in(after)) == want, "switch values after the change", probes_in(after))
    st2 = os.stat(GOPHER_CONF)
    check((st2.st_uid, st2.st_gid, st2.st_mode & 0o7777) == (st.st_uid, st.st_gid, st.st_mode & 0o7777),
          "owner, group and mode kept", (st2.st_uid, st2.st_gid, oct(st2.st_mode)))
    wait_for(lambda: unit_prop("gala-gopher.service", "ExecMainStartTimestampMonotonic") != started
             and systemctl("is-active", "gala-gopher.service") == "active",
             "gala-gopher restarted after the change")
    # A burst of changes is coalesced: the unit must not hit its start limit.
    for i in range(12):
        envelope("POST", "/v1/agent/collect/items/change",
                 {"gala-gopher": {"tcp": "on" if i % 2 else "off"}})
    time.sleep(3)
    check(systemctl("is-active", "gala-gopher.service") == "active"
          and unit_prop("gala-gopher.service", "Result") == "success",
          "gala-gopher still active after a burst of changes",
          (systemctl("is-active", "gala-gopher.service"), unit_prop("gala-gopher.service", "Result")))

    envelope("POST", "/v1/agent/plugin/stop?plugin_name=gala-gopher")
    check(systemctl("is-active", "gala-gopher.service") == "inactive", "gala-gopher inactive after stop",
          systemctl("is-active", "gala-gopher.service"))
    info = gopher_info()
    check(info.get("status") == "inactive", "plugin/info status after stop", info.get("status"))
    current = [x.get("current_value") for x in info.get("resource", [])]
    check(current == [None, None], "no current values while inactive", current)
    envelope("POST", "/v1/agent/plugin/stop?plugin_name=gala-gopher")
    check(running_apps() == [], "application/info after stop", running_apps())


GOPHER2_INIT = "/etc/gala-gopher/probes.init"
# The probes gala-gopher 2.0.2 has built in (gala-gopher.md), in the order plugin/info lists them.
BUILTIN_202 = ["baseinfo", "virt", "flamegraph", "l7", "tcp", "socket", "io", "proc", "jvm",
               "postgre_sli", "opengauss_sli", "nginx", "lvs", "kafka", "tprofiling", "hw", "ksli",
               "container", "sermant", "sli", "flowtracer"]


def probe_states():
    info = gopher_info()
    return {i.get("probe_name"): i.get("probe_status") for i in info.get("collect_items", [])}


def change_items(items):
    r = envelope("POST", "/v1/agent/collect/items/change", {"gala-gopher": items})
    lists = (r or {}).get("resp", {}).get("gala-gopher", {})
    return sorted(lists.get("success", [])), sorted(lists.get("failure", []))


def init_lines():
    return {l.split(None, 1)[0]: json.loads(l.split(None, 1)[1])
            for l in open(GOPHER2_INIT) if l.strip() and not l.startswith("#")}


def gopher2_live():
    """gala-gopher 2.0.2 running: its probes listed; a change applied live, nothing restarted."""
    info = gopher_info()
    check(info.get("status") == "active", "plugin/info status of gala-gopher 2.x", info.get("status"))
    items = info.get("collect_items", [])
    check([i.get("probe_name") for i in items] == BUILTIN_202, "plugin/info lists 2.0.2's probes",
          [i.get("probe_name") for i in items])
    check(all(i.get("probe_status") == "off" and i.get("support_auto") is False for i in items),
          "every probe starts off, none takes auto", items)
    pid = unit_prop("gala-gopher.service", "MainPID")
    got = change_items({"io": "on", "proc": "on", "tcp": "on", "jvm": "auto"})
    # 2.0.2 refuses tcp without snoopers; auto does not exist in 2.x.
    check(got == (["io", "proc"], ["jvm", "tcp"]), "live change success/failure", got)
    states = probe_states()
    check(states.get("io") == "on" and states.get("proc") == "on" and states.get("tcp") == "off",
          "plugin/info after the live change", states)
    check(unit_prop("gala-gopher.service", "MainPID") == pid, "gala-gopher not restarted (MainPID)",
          (pid, unit_prop("gala-gopher.service", "MainPID")))
    live = subprocess.run(["gopher-ctl", "probe", "get", "proc"], capture_output=True, text=True)
    doc = json.loads(live.stdout)
    check(doc.get("state") == "running" and "proc_pygc" in doc.get("cmd", {}).get("probe", []),
          "gopher-ctl shows proc running with every sub-item", doc)


def gopher2_stopped():
    """gala-gopher stopped: ExecStop saved the state; a change goes into probes.init."""
    lines = init_lines()
    check(lines.get("io", {}).get("state") == "running", "ExecStop saved io running", lines)
    states = probe_states()
    check(states.get("io") == "on" and states.get("proc") == "on", "states from probes.init", states)
    before = open(GOPHER2_INIT).read()
    st = os.stat(GOPHER2_INIT)
    got = change_items({"io": "off", "ksli": "on", "kafka": "off"})
    # ksli has no line: which sub-items the build takes is known only while it runs.
    check(got == (["io", "kafka"], ["ksli"]), "stopped change success/failure", got)
    after = open(GOPHER2_INIT).read()
    b, a = before.splitlines(True), after.splitlines(True)
    diffs = [(x, y) for x, y in zip(b, a) if x != y]
    check(len(b) == len(a) and len(diffs) == 1 and diffs[0][1].startswith("io "),
          "only io's line of probes.init changed", diffs)
    check(init_lines()["io"].get("state") == "stopped", "io stopped in probes.init", init_lines())
    st2 = os.stat(GOPHER2_INIT)
    check((st2.st_uid, st2.st_gid, st2.st_mode & 0o7777) == (st.st_uid, st.st_gid, st.st_mode & 0o7777),
          "probes.init owner, group and mode kept", oct(st2.st_mode))


def gopher2_replayed():
    """Started again, gala-gopher replayed probes.init: the change made while stopped holds."""
    states = probe_states()
    check(states.get("io") == "off" and states.get("proc") == "on", "states after the replay", states)


def answers():
    """The agent answers HTTP with an envelope (whatever the code: this is about the socket)."""
    status, reply = call("GET", "/v1/agent/application/info")
    check(status == 200 and isinstance(reply, dict) and isinstance(reply.get("code"), int)
          and isinstance(reply.get("msg"), str),
          "application/info answers with an envelope", (status, reply))


CHECKS = {"registered": registered, "endpoints": endpoints, "plugin": plugin,
          "gopher2-live": gopher2_live, "gopher2-stopped": gopher2_stopped,
          "gopher2-replayed": gopher2_replayed,
          "wrong-token": wrong_token, "answers": answers}
try:
    CHECKS[CHECK]()
except Abort:
    pass
except (OSError, ValueError, KeyError, http.client.HTTPException) as e:
    failures.append(f"{CHECK}: {type(e).__name__}: {e}")
for f in failures:
    print(f"FAIL {CHECK}: {f}")
sys.exit(1 if failures else 0)

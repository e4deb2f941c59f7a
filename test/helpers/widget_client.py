"""Speaks the Jupyter widget protocol (ipywidgets 8, 2.1.0) to the replaybook kernel as a front
end does, through jupyter_client: comm_info_request, a slider's state both ways (update,
echo_update, request_state), a button's click (custom), binary buffers, the control target's
request_states, and execution counts. Prints one JSON object with what it saw.

usage: widget_client.py   (JUPYTER_PATH must find the kernelspec)
"""
import json
import os
import sys
import time

from jupyter_client.manager import KernelManager


def drain(kc, mid, timeout=60):
    """iopub messages of request mid until it goes idle."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            m = kc.get_iopub_msg(timeout=0.5)
        except Exception:
            continue
        if m["parent_header"].get("msg_id") != mid:
            continue
        seen.append(m)
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return seen
    raise TimeoutError(f"no idle for {mid}")


def execute(kc, code):
    mid = kc.execute(code)
    msgs = drain(kc, mid)
    errors = [m["content"] for m in msgs if m["msg_type"] == "error"]
    if errors:
        print("cell failed:", code, errors, file=sys.stderr)
    reply = kc.get_shell_msg(timeout=60)
    while reply["parent_header"].get("msg_id") != mid:
        reply = kc.get_shell_msg(timeout=60)
    out = "".join(m["content"].get("text", "") for m in msgs if m["msg_type"] == "stream")
    return msgs, reply, out


def shell(kc, msg_type, content, buffers=None):
    msg = kc.session.msg(msg_type, content)
    kc.session.send(kc.shell_channel.socket, msg, buffers=buffers or [])
    return msg["header"]["msg_id"], drain(kc, msg["header"]["msg_id"])


def comm_info(kc, target=None):
    content = {"target_name": target} if target else {}
    msg = kc.session.msg("comm_info_request", content)
    kc.shell_channel.send(msg)
    reply = kc.get_shell_msg(timeout=30)
    while reply["parent_header"].get("msg_id") != msg["header"]["msg_id"]:
        reply = kc.get_shell_msg(timeout=30)
    return {"msg_type": reply["msg_type"], "content": reply["content"]}


def strip(m):
    return {"msg_type": m["msg_type"], "content": m["content"], "buffers": [bytes(b).hex() for b in m.get("buffers", [])]}


def main():
    out = {}
    km = KernelManager(kernel_name="replaybook")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        out["info_before"] = comm_info(kc, "jupyter.widget")
        msgs, reply, _ = execute(
            kc,
            "const seen = { changes: [] as number[], clicks: 0 };\n"
            "const s = slider({ max: 10, value: 2, description: 'n' }); s.on('change', (v) => { seen.changes.push(v); });\n"
            "const b = button({ description: 'go' }); b.on('click', () => { seen.clicks++; });\n"
            "const raw = new widgets.WidgetModel({ _model_name: 'RawModel', _model_module: 'test', _model_module_version: '1.0.0', data: Buffer.from([1, 2, 3]) });\n"
            "display(vbox([s, b]));",
        )
        out["execute_input"] = [m["content"] for m in msgs if m["msg_type"] == "execute_input"]
        out["reply_count"] = reply["content"].get("execution_count")
        opens = [m for m in msgs if m["msg_type"] == "comm_open"]
        out["opens"] = [strip(m) for m in opens]
        out["displays"] = [m["content"]["data"] for m in msgs if m["msg_type"] == "display_data"]
        by_model = {m["content"]["data"]["state"]["_model_name"]: m["content"]["comm_id"] for m in opens}
        slider_id, button_id, raw_id = by_model["IntSliderModel"], by_model["ButtonModel"], by_model["RawModel"]
        out["ids"] = by_model
        out["info_after"] = comm_info(kc, "jupyter.widget")
        out["info_all"] = comm_info(kc)
        _, seen = shell(kc, "comm_msg", {"comm_id": slider_id, "data": {"method": "update", "state": {"value": 7}, "buffer_paths": []}})
        out["after_update"] = [strip(m) for m in seen if m["msg_type"] == "comm_msg"]
        _, seen = shell(kc, "comm_msg", {"comm_id": slider_id, "data": {"method": "request_state"}})
        out["after_request_state"] = [strip(m) for m in seen if m["msg_type"] == "comm_msg"]
        shell(kc, "comm_msg", {"comm_id": button_id, "data": {"method": "custom", "content": {"event": "click"}}})
        shell(kc, "comm_msg", {"comm_id": raw_id, "data": {"method": "update", "state": {}, "buffer_paths": [["data"]]}}, [b"\x09\x08\x07\x06"])
        _, _, text = execute(kc, "console.log(JSON.stringify({ value: s.value, changes: seen.changes, clicks: seen.clicks, raw: [...(raw.get('data') as Buffer)] }))")
        try:
            out["kernel_view"] = json.loads(text.strip().splitlines()[-1])
        except (ValueError, IndexError):
            out["kernel_view"] = {"unparsed": text}
        msgs, _, _ = execute(kc, "s.value = 4")
        out["kernel_set"] = [strip(m) for m in msgs if m["msg_type"] == "comm_msg"]
        _, seen = shell(kc, "comm_open", {"comm_id": "control-1", "target_name": "jupyter.widget.control", "data": {}})
        _, seen = shell(kc, "comm_msg", {"comm_id": "control-1", "data": {"method": "request_states"}})
        states = [m for m in seen if m["msg_type"] == "comm_msg"]
        out["request_states"] = {
            "method": states[0]["content"]["data"]["method"] if states else None,
            "models": {k: v["model_name"] for k, v in states[0]["content"]["data"]["states"].items()} if states else {},
            "slider_value": states[0]["content"]["data"]["states"][slider_id]["state"]["value"] if states else None,
            "buffer_paths": states[0]["content"]["data"]["buffer_paths"] if states else None,
        }
        _, seen = shell(kc, "comm_open", {"comm_id": "nobody-1", "target_name": "no.such.target", "data": {}})
        out["unknown_target"] = [strip(m) for m in seen if m["msg_type"].startswith("comm_")]
        msgs, _, _ = execute(kc, "s.close()")
        out["closed"] = [strip(m) for m in msgs if m["msg_type"] == "comm_close"]
        out["info_closed"] = comm_info(kc, "jupyter.widget")
        inc = os.environ.get("RB_INCIDENT")
        if inc:
            # Two panels at once, each with its own replay.
            execute(kc, f"const p1 = await panel({json.dumps(inc)}); const p2 = await panel({json.dumps(inc)}, {{ at: 'tx-1' }});")
            _, _, text = execute(
                kc,
                "await p1.step(3); const tx1 = (await transactions(" + json.dumps(inc) + ")).list[0].firstSeq;\n"
                "console.log(JSON.stringify({ p1: (await p1.state()).seq, p2: (await p2.state()).seq, tx1 }))",
            )
            out["two_panels"] = json.loads(text.strip().splitlines()[-1])
            # No widget manager here says hello for the timeline's model: once the wait is over,
            # the panel shows the timeline through its HTML fallback.
            _, _, text = execute(
                kc,
                "await new Promise((r) => setTimeout(r, 3500));\n"
                "console.log(JSON.stringify({ path: p1.timelinePath, hosts: p1.root.children.filter((c) => String(c.model.get('value') ?? '').includes('rb-timeline-host')).length,"
                " models: p1.root.children.map((c) => c.model.get('_model_name')) }))",
            )
            out["fallback"] = json.loads(text.strip().splitlines()[-1])
            # A cell that opens a panel, plays it slowly and waits: interrupting it stops that
            # panel (its replay and program), not the others.
            mid = kc.execute(
                f"(globalThis as any).p3 = await panel({json.dumps(inc)}, {{ speed: 0.1 }}); await (globalThis as any).p3.play(); "
                "console.log('playing'); await new Promise((r) => setTimeout(r, 60000));"
            )
            deadline = time.monotonic() + 60
            seen = []
            while time.monotonic() < deadline and not any(m["msg_type"] == "stream" and "playing" in m["content"].get("text", "") for m in seen):
                try:
                    m = kc.get_iopub_msg(timeout=0.5)
                except Exception:
                    continue
                if m["parent_header"].get("msg_id") == mid:
                    seen.append(m)
            km.interrupt_kernel()
            drain(kc, mid)
            time.sleep(1.0)
            _, _, text = execute(
                kc,
                "const before = (await p1.state()).seq; const paused1 = (await p1.state()).paused; await p1.step(1);\n"
                "console.log(JSON.stringify({ p3: (globalThis as any).p3.stopped, p1: p1.stopped, p2: p2.stopped, p1paused: paused1, p1before: before, p1after: (await p1.state()).seq }))",
            )
            out["after_interrupt"] = json.loads(text.strip().splitlines()[-1])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    print(json.dumps(out))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()

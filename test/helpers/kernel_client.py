"""Drives the replaybook Jupyter kernel through jupyter_client, as a notebook front end does.

usage: kernel_client.py INCIDENT TRACEE_NAME
Starts the kernel (JUPYTER_PATH must find the kernelspec), then: a plain cell; a 1x replay of
INCIDENT interrupted after a second; a scan of /proc for processes named TRACEE_NAME; a cell with
a type error; a plain cell again. Prints one JSON object with what each step saw.
"""
import json
import os
import sys
import time

from jupyter_client.manager import KernelManager


def run_cell(kc, code, timeout=120, interrupt_after=None, km=None):
    """Executes code; returns (status, stdout, stderr, error text, seconds)."""
    start = time.monotonic()
    msg_id = kc.execute(code)
    stdout, stderr, errors = [], [], []
    interrupted = False
    status = None
    while True:
        if interrupt_after is not None and not interrupted and time.monotonic() - start >= interrupt_after:
            km.interrupt_kernel()
            interrupted = True
        try:
            msg = kc.get_iopub_msg(timeout=0.2)
        except Exception:
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"cell did not finish in {timeout}s: {code!r}")
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        content = msg["content"]
        if kind == "stream":
            (stdout if content["name"] == "stdout" else stderr).append(content["text"])
        elif kind in ("execute_result", "display_data"):
            stdout.append(content["data"].get("text/plain", ""))
        elif kind == "error":
            errors.append("\n".join(content.get("traceback", [])) or content.get("evalue", ""))
        elif kind == "status" and content["execution_state"] == "idle":
            break
    reply = kc.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=timeout)
    status = reply["content"]["status"]
    if status == "error":
        # tslab aborts requests that arrive within 200 ms of a failed cell (Jupyter's
        # stop-on-error for queued cells); a person's next cell comes later than that.
        time.sleep(0.3)
    return {
        "status": status,
        "stdout": "".join(stdout),
        "stderr": "".join(stderr),
        "error": "\n".join(errors),
        "seconds": round(time.monotonic() - start, 3),
    }


def processes_named(name):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == name:
                    found.append(int(pid))
        except OSError:
            pass
    return found


def main():
    incident, tracee = sys.argv[1], sys.argv[2]
    out = {}
    t0 = time.monotonic()
    km = KernelManager(kernel_name="replaybook")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        out["start_seconds"] = round(time.monotonic() - t0, 3)
        out["first"] = run_cell(kc, "1 + 1")
        out["interrupted"] = run_cell(
            kc, f"const r = await replay({json.dumps(incident)}, {{ speed: 1 }});", interrupt_after=1.0, km=km
        )
        time.sleep(0.3)
        out["tracees_after_interrupt"] = processes_named(tracee)
        out["after_interrupt"] = run_cell(kc, "1 + 2")
        out["type_error"] = run_cell(kc, "const bad: number = 'text';")
        out["after_type_error"] = run_cell(kc, "40 + 2")
        out["store_error"] = run_cell(kc, "await fetchIncident('no-such-incident')")
        out["after_store_error"] = run_cell(kc, "(await incidents()).length")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    print(json.dumps(out))
    sys.stdout.flush()
    os._exit(0)  # skip jupyter_client's noisy finalizers at interpreter exit


if __name__ == "__main__":
    main()

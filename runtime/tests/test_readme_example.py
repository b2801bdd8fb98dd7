"""The README's web-service example, run as written: a real HTTP service on 127.0.0.1 that
serves claims through the runtime, on a flag file the reconciler's code wrote."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ailoop_runtime import workflow_digest

from pipeline.model.status import StatusBody
from pipeline.reconcile import flags

ROOT = Path(__file__).resolve().parents[2]
PRIORITY = """\
apiVersion: ailoop.dev/v1
kind: Priority
metadata: {name: claims-intake}
spec:
  actions:
    - {name: send-reply, class: customer-facing, humanConfirmation: true}
"""


def example() -> str:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- runtime-example -->\n```python\n", 1)[1].split("```", 1)[0]
    return block


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def version(tmp: Path, name: str, answer: str) -> str:
    folder = tmp / "vendor" / f"claims-{name}"
    folder.mkdir(parents=True)
    (folder / "workflow.py").write_text(f"def decide(claim):\n    return {answer!r}\n")
    module = tmp / "claims" / f"v{name.replace('.', '_')}.py"
    actions = "[{'name': 'send-reply', 'payload': {'to': claim['id']}}]"
    module.write_text(f"def run(claim):\n    return {{'output': {answer!r}, "
                      f"'actions': {actions}}}\n")
    return workflow_digest(str(folder))


def test_the_readme_service_serves_claims_through_the_runtime(tmp_path: Path) -> None:
    (tmp_path / "claims").mkdir()
    (tmp_path / "claims" / "__init__.py").write_text(
        "def send_reply(payload):\n    raise AssertionError('never without a person')\n")
    serving, candidate = version(tmp_path, "1.1.1", "normal"), version(tmp_path, "1.2.0",
                                                                         "urgent")
    body = StatusBody.model_validate({
        "serving": {"version": "1.1.1", "evidenceId": "ev-a", "workflowDigest": serving},
        "candidate": {"version": "1.2.0", "evidenceId": "ev-b", "stage": "early",
                      "percent": 25, "workflowDigest": candidate}})
    customer = tmp_path / "customers" / "northwind-insurance"
    (customer / "claims-intake").mkdir(parents=True)
    (customer / "claims-intake" / "priority.yaml").write_text(PRIORITY)
    (customer / "flags.flagd.json").write_text(
        flags.render(flags.customer_flags([("claims-intake", body)])))
    web, metrics = free_port(), free_port()
    code = example().replace("8080", str(web)).replace("9464", str(metrics))
    service = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    try:
        answers = [post(web, {"id": f"claim-{i}", "text": "water"}, service)
                   for i in range(200)]
        exported = urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics",
                                          timeout=5).read().decode()
    finally:
        service.terminate()
        service.wait(timeout=10)
    variants = {a["variant"] for a in answers}
    assert variants == {"serving", "candidate"}
    assert {a["output"] for a in answers if a["variant"] == "candidate"} == {"urgent"}
    share = sum(a["variant"] == "candidate" for a in answers) / len(answers)
    assert 0.1 < share < 0.4
    assert re.search(r'priority="northwind-insurance/claims-intake"', exported)


def post(port: int, claim: dict[str, str], service: subprocess.Popen[str]) -> dict[str, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", json.dumps(claim).encode(),
                                     {"Content-Type": "application/json"})
    for _ in range(100):
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                answer: dict[str, str] = json.loads(response.read())
                return answer
        except OSError:
            if service.poll() is not None:
                raise AssertionError(service.stderr.read() if service.stderr else "") from None
            time.sleep(0.1)
    raise AssertionError("the service never answered")

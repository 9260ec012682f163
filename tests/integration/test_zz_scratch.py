import json
def test_scratch(client, app):
    def show(r):
        print(r.status_code, json.dumps(r.json, indent=None)[:1500])
    show(client.post("/api/v1/workflows", data="{bad", content_type="application/json"))
    show(client.post("/api/v1/workflows", json={"name": 123}))
    show(client.post("/api/v1/workflows", json={"name": "x", "bogus": 1, "tasks": {"a": {"action": "builtin.noop"}}}))
    app.config["MAX_CONTENT_LENGTH"] = 100
    show(client.post("/api/v1/workflows", json={"name": "x"*200}))
    app.config["MAX_CONTENT_LENGTH"] = 10*1024*1024
    show(client.post("/api/v1/workflows", json={"name": "x", "tasks": {
        "a": {"action": "builtin.noop", "depends_on": ["c"]},
        "b": {"action": "builtin.noop", "depends_on": ["a"]},
        "c": {"action": "builtin.noop", "depends_on": ["b"]},
        "d": {"action": "builtin.noop", "depends_on": ["zzz"]},
        "e": {"component": "nope", "action": "x"},
        "f": {"component": "builtin", "action": "nope"},
        "g": {"action": "builtin.echo", "input": {"x": "${workflow.input.}"}},
        "h": {"action": "builtin.echo", "input": {"x": "${tasks.f.output.y}"}},
        "i": {"action": "cli.execute_command", "input": {}},
    }, "input_schema": {"type": "object", "properties": {"x": {"type": 5}}}}))
    show(client.post("/api/v1/workflows", json={"name": "x", "tasks": [
        {"id": "a"}, {"id": "a"}]}))
    show(client.post("/api/v1/workflows", json={"name": "x", "start_step": "a", "steps": {
        "a": {"id": "a", "agent_name": "Nope", "next_step": None, "input_mapping": {}},
        "b": {"id": "b", "component": "builtin", "action": "noop", "next_step": None, "input_mapping": {}}}}))
    show(client.get("/api/v1/workflows?page_size=101"))
    show(client.get("/api/v1/workflows/nope", headers={"X-Request-ID": "abc"}))
    r = client.post("/api/v1/workflows", json={"name": "ok", "tasks": {"a": {"action": "builtin.noop"}}, "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}})
    show(r)
    wid = r.json["id"]
    show(client.post(f"/api/v1/workflows/{wid}/execute", json={"input_data": {"n": "x"}}))
    show(client.post(f"/api/v1/workflows/{wid}/execute", json={"input_data": []}))
    show(client.post(f"/api/v1/workflows/{wid}/execute", json={"input_data": "s"}))
    show(client.post(f"/api/v1/workflows/{wid}/execute", json={}))
    show(client.get("/api/v1/runs/nope/steps"))
    show(client.get("/api/v1/runs/nope/logs"))
    show(client.get("/api/v1/runs/nope/steps/x"))
    show(client.get("/api/v1/runs?created_after=notadate"))
    show(client.get("/api/v1/runs?created_after=2024-01-01T00:00:00"))
    show(client.post("/api/v1/workflows", data="[1,2]", content_type="application/json"))
    show(client.post("/api/v1/workflows", data="null", content_type="application/json"))
    show(client.post("/api/v1/workflows", data="name=x", content_type="text/plain"))
    show(client.post("/api/v1/agents", json={"name": "a", "url": "http://x:1", "timeout_ms": 5}))
    show(client.post("/api/v1/agents", json={"name": "a", "url": "http://x:1", "auth_config": {"token": "s"}, "auth_type": "bearer"}))
    show(client.get("/api/v1/workflows/" + wid + "/plan"))
    show(client.put("/api/v1/workflows/" + wid, json={"tasks": "x"}))
    show(client.put("/api/v1/workflows/" + wid, json={"steps": {"a": 1}}))
    show(client.get("/api/v1/workflows"))
    assert 0

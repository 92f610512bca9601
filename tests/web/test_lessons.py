"""The course pages through the HTTP API: the map, a lesson's lab, the automatic check after
each command, the hint ladder, choices, progress kept per session, both languages."""

from __future__ import annotations

from fastapi.testclient import TestClient

HX = {"HX-Request": "true"}


def test_course_map_lists_every_track_and_lesson(client: TestClient) -> None:
    page = client.get("/lessons?lang=en")
    assert page.status_code == 200
    assert "Foundations: Services and iptables" in page.text
    assert 'href="/lessons/service-endpoints"' in page.text
    assert "0 of 27 lessons finished" in page.text
    zh = client.get("/lessons?lang=zh")
    assert "基础:Service 与 iptables" in zh.text and "已完成 0 / 27 课" in zh.text


def test_unknown_lesson_is_404(client: TestClient) -> None:
    assert client.get("/lessons/no-such-lesson").status_code == 404


def test_command_is_checked_and_the_step_advances(client: TestClient) -> None:
    page = client.get("/lessons/service-endpoints?lang=en")
    assert "Step 1 of 3" in page.text and "kubectl get endpoints" in page.text
    wrong = client.post(
        "/lessons/service-endpoints/run", data={"command": "kubectl get svc"}, headers=HX
    )
    assert "Step 1 of 3" in wrong.text and "my-first-deploy" in wrong.text
    right = client.post(
        "/lessons/service-endpoints/run",
        data={"command": "kubectl get endpoints my-first-deploy"},
        headers=HX,
    )
    assert "Step 2 of 3" in right.text and "Step done" in right.text
    assert "10.244.1.137:8080,10.244.1.138:8080" in right.text  # the command's own output
    # the progress is stored: a reload shows step 2 and the map says so
    assert "Step 2 of 3" in client.get("/lessons/service-endpoints").text
    assert "step 2 of 3" in client.get("/lessons").text


def test_hint_ladder_goes_hint_goal_solution(client: TestClient) -> None:
    client.get("/lessons/custom-chains?lang=en")
    first = client.post("/lessons/custom-chains/hint", headers=HX).text
    assert "-N (--new-chain) creates a chain." in first and "Goal:" not in first
    client.post("/lessons/custom-chains/hint", headers=HX)
    goal = client.post("/lessons/custom-chains/hint", headers=HX).text
    assert "Goal:" in goal and "LAB-AUDIT" in goal and "Solution:" not in goal
    solution = client.post("/lessons/custom-chains/hint", headers=HX).text
    assert "Solution:" in solution and "iptables -N LAB-AUDIT" in solution


def test_choice_step_needs_the_right_answer(client: TestClient) -> None:
    client.get("/lessons/three-modes?lang=en")
    wrong = client.post("/lessons/three-modes/check", data={"answer": "0"}, headers=HX)
    assert "Not yet" in wrong.text and "Step 1 of 3" in wrong.text
    right = client.post("/lessons/three-modes/check", data={"answer": "1"}, headers=HX)
    assert "Step 2 of 3" in right.text


def test_a_whole_lesson_ends_with_the_recap_and_counts_as_done(client: TestClient) -> None:
    client.get("/lessons/save-and-restore?lang=en")
    client.post("/lessons/save-and-restore/run", data={"command": "iptables-save -t nat"})
    paste = "iptables-restore --noflush <<EOF\n*filter\n:LAB-ALLOW - [0:0]\n"
    paste += "-A LAB-ALLOW -s 192.168.49.0/24 -j ACCEPT\nCOMMIT\nEOF"
    done = client.post("/lessons/save-and-restore/run", data={"command": paste}, headers=HX)
    assert "Lesson complete" in done.text and "iptables-restore --noflush batch" in done.text
    assert "1 of 27 lessons finished" in client.get("/lessons").text


def test_without_htmx_a_form_post_redirects_back(client: TestClient) -> None:
    client.get("/lessons/service-endpoints")
    answer = client.post(
        "/lessons/service-endpoints/run", data={"command": "kubectl get ep"}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/lessons/service-endpoints"


def test_progress_belongs_to_the_session(client: TestClient) -> None:
    client.get("/lessons/service-endpoints")
    client.post("/lessons/service-endpoints/run", data={"command": "kubectl get ep"}, headers=HX)
    other = type(client)(client.app)
    assert "Step 1 of 3" in other.get("/lessons/service-endpoints?lang=en").text
    assert "Step 2 of 3" in client.get("/lessons/service-endpoints?lang=en").text


def test_restart_gives_a_fresh_lab(client: TestClient) -> None:
    client.get("/lessons/service-endpoints")
    client.post("/lessons/service-endpoints/run", data={"command": "kubectl get ep"}, headers=HX)
    client.post("/lessons/service-endpoints/restart")
    assert "Step 1 of 3" in client.get("/lessons/service-endpoints?lang=en").text


def test_lesson_in_chinese(client: TestClient) -> None:
    page = client.get("/lessons/iptables-commands?lang=zh")
    assert "iptables 命令的真实含义" in page.text and "第 1 / 4 步" in page.text
    assert "-S 不是「保存」" in page.text


def test_reload_shows_the_commands_typed_in_this_lesson(client: TestClient) -> None:
    client.get("/lessons/service-endpoints")
    client.post("/lessons/service-endpoints/run", data={"command": "kubectl get svc"}, headers=HX)
    page = client.get("/lessons/service-endpoints")
    assert '<span aria-hidden="true">$ </span>kubectl get svc</pre>' in page.text


def test_console_output_is_escaped(client: TestClient) -> None:
    client.get("/lessons/service-endpoints")
    answer = client.post(
        "/lessons/service-endpoints/run", data={"command": "kubectl get svc <b>x</b>"}, headers=HX
    )
    assert "<b>x</b>" not in answer.text and "&lt;b&gt;x&lt;/b&gt;" in answer.text


def test_userspace_lesson_shows_the_proxy_process_in_the_path(client: TestClient) -> None:
    client.get("/lessons/userspace-retry?lang=en")
    answer = client.post(
        "/lessons/userspace-retry/run", data={"command": "curl 10.97.139.74:8080"}, headers=HX
    )
    assert "<code>KUBE-PORTALS-CONTAINER</code>" in answer.text
    assert "<code>proxy</code>" in answer.text and "Step 2 of 2" in answer.text

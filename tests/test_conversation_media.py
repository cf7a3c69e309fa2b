"""Conversations keep their attachments, stored once by content hash; replay keys include it.

Real files under a temporary ``EDGE_DATA_DIR``: chat files written by ``record_turn``, the
attachment store ``attachments/<sha[:2]>/<sha256>`` next to them, real PNGs and PDFs drawn
with matplotlib, real processes writing one chat at once, and (at the end) the real call
engine against the sandbox over HTTP: a named ``Chat`` re-sends a stored figure, and an
unchanged figure replays for $0 while a changed one is asked again.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from media_files import pdf_bytes

from edge_jupyter import conversations, replay, storage
from edge_jupyter.content import Attachment, Prompt, image_header, pdf_pages
from edge_jupyter.conversations import Conversation, ConversationError
from edge_jupyter.record import CallRecord

ROOT = Path(__file__).resolve().parent.parent
MODEL = "openai/gpt-4o-mini"


@pytest.fixture
def data(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "edge-data"
    monkeypatch.setenv("EDGE_DATA_DIR", str(folder))
    return folder


def figure_png(colour: str = "tab:blue", size: tuple[float, float] = (2, 1.5)) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=size, dpi=50)
    fig.gca().plot([1, 3, 2], color=colour)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()




def image(data: bytes, filename: str = "figure.png") -> Attachment:
    header = image_header(data)
    assert header is not None
    return Attachment(kind="image", data=data, mime=header.mime, filename=filename,
                      width=header.width, height=header.height, source="matplotlib Figure")


def pdf(data: bytes, filename: str = "paper.pdf") -> Attachment:
    return Attachment(kind="file", data=data, mime="application/pdf", filename=filename,
                      pages=pdf_pages(data))


def chat_file(name: str) -> dict[str, Any]:
    return json.loads((storage.data_dir() / "chats" / f"{name}.json").read_text("utf-8"))


def stored(data_dir: Path) -> list[Path]:
    folder = data_dir / "attachments"
    return sorted(p for p in folder.glob("*/*") if not p.name.startswith(".")) if folder.is_dir() else []


# -- saved by hash, sent again identically --------------------------------------------------------

def test_a_turn_with_an_image_and_a_pdf_is_saved_by_hash_and_sent_again_identically(data):
    fig, paper = image(figure_png()), pdf(pdf_bytes(2))
    prompt = Prompt.of(["What is wrong with this plot? ", fig, " The data: ", paper, " Thanks."])
    conversations.record_turn("trip", "k1", prompt, {MODEL: "The axis."}, system="Be brief.")

    raw = chat_file("trip")
    (turn,) = raw["turns"]
    assert turn["prompt"] == "What is wrong with this plot?  The data:  Thanks."  # the text alone
    assert turn["parts"] == [
        {"text": "What is wrong with this plot? "},
        {"attachment": fig.sha256, "kind": "image", "mime": "image/png", "filename": "figure.png",
         "width": 100, "height": 75, "source": "matplotlib Figure"},
        {"text": " The data: "},
        {"attachment": paper.sha256, "kind": "file", "mime": "application/pdf",
         "filename": "paper.pdf", "pages": 2},
        {"text": " Thanks."},
    ]
    text = (data / "chats" / "trip.json").read_text("utf-8")
    assert "base64" not in text and base64.b64encode(fig.data[:300]).decode()[:40] not in text
    for att in (fig, paper):  # the store holds the bytes, named by their hash
        path = data / "attachments" / att.sha256[:2] / att.sha256
        assert path.read_bytes() == att.data
        assert hashlib.sha256(path.read_bytes()).hexdigest() == att.sha256

    messages = conversations.load("trip").messages_for(MODEL, "And now?", "k2")
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": prompt.content()},  # rebuilt from the store, part for part
        {"role": "assistant", "content": "The axis."},
        {"role": "user", "content": "And now?"},
    ]
    assert messages[1]["content"][1]["image_url"]["url"] == fig.data_url()
    assert messages[1]["content"][3]["file"] == {"filename": "paper.pdf",
                                                 "file_data": paper.data_url()}
    described = ["matplotlib Figure 100×75", "paper.pdf (2 pages)"]
    assert conversations.load("trip").turns[0].attached() == described
    memory = Conversation(name="")
    memory.record("k1", prompt, {MODEL: "The axis."})
    assert memory.turns[0].attached() == described


def test_json_and_attachment_files_share_one_atomic_write(data):
    """write_json_atomic is write_bytes_atomic of the JSON: same bytes, same failures."""
    folder = storage.data_dir() / "new" / "deeper"  # folders made as needed
    value = {"b": ["é", 1.5, None], "a": {"z": True}}
    storage.write_json_atomic(folder / "x.json", value)
    written = (folder / "x.json").read_bytes()
    assert written == json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
    with pytest.raises(TypeError):  # not JSON: nothing written, the old file kept
        storage.write_json_atomic(folder / "x.json", {"a": object()})
    assert (folder / "x.json").read_bytes() == written
    (folder / "taken").mkdir()  # a folder where the file should be: one clear error each
    for write in (lambda: storage.write_json_atomic(folder / "taken", {}),
                  lambda: storage.write_bytes_atomic(folder / "taken", b"png")):
        with pytest.raises(storage.DataFileError, match="taken"):
            write()
    assert sorted(p.name for p in folder.iterdir()) == ["taken", "x.json"]  # no temporary left


def test_the_store_holds_each_attachment_once_and_never_rewrites_it(data):
    fig, paper = image(figure_png()), pdf(pdf_bytes(1))
    conversations.record_turn("trip", "k1", Prompt.of(["Look ", fig, paper]), {MODEL: "a"})
    first = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in stored(data)}
    conversations.record_turn("trip", "k2", Prompt.of(["Again ", fig]), {MODEL: "b"})
    conversations.record_turn("trip", "k3", Prompt.of([fig, "once more", paper]), {MODEL: "c"})
    conversations.record_turn("other", "k1", Prompt.of(["Elsewhere ", fig]), {MODEL: "d"})

    assert len(stored(data)) == 2  # three turns and two chats refer to the figure: one file
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in stored(data)} == first
    turns = chat_file("trip")["turns"]
    assert [sum("attachment" in p for p in t["parts"]) for t in turns] == [2, 1, 2]


def test_rerunning_a_cell_replaces_its_turn_and_its_attachments(data):
    old, new = image(figure_png("tab:blue")), image(figure_png("tab:red"))
    assert old.sha256 != new.sha256
    conversations.record_turn("trip", "cell-1", Prompt.of(["Plot ", old]), {MODEL: "blue"})
    conversations.record_turn("trip", "cell-1", Prompt.of(["Plot ", new]), {MODEL: "red"})
    (turn,) = conversations.load("trip").turns
    assert [p.get("attachment") for p in turn.parts] == [None, new.sha256]
    content = conversations.load("trip").messages_for(MODEL, "next", "cell-2")[0]["content"]
    assert content[1]["image_url"]["url"] == new.data_url()


def test_an_in_memory_conversation_keeps_the_prompt_itself_and_writes_nothing(data):
    fig = image(figure_png())
    prompt = Prompt.of(["Look: ", fig])
    memory = Conversation(name="")
    memory.record("k1", prompt, {MODEL: "A line."})
    assert memory.turns[0].parts is prompt and memory.turns[0].prompt == "Look: "
    assert memory.messages_for(MODEL, Prompt.of(["More? ", fig]), "k2") == [
        {"role": "user", "content": [{"type": "text", "text": "Look: "}, fig.part()]},
        {"role": "assistant", "content": "A line."},
        {"role": "user", "content": [{"type": "text", "text": "More? "}, fig.part()]},
    ]
    assert not (data / "attachments").exists() and not (data / "chats").exists()


# -- text only: exactly as before ----------------------------------------------------------------

def test_text_only_conversations_send_and_save_exactly_what_they_did_before(data):
    conversations.record_turn("plain", "k1", "Hi", {MODEL: "Hello."}, system="Be kind.")
    conversations.record_turn("plain", "k2", Prompt.of(["Where ", "to?"]), {MODEL: "Porto."})
    turns = chat_file("plain")["turns"]
    assert [sorted(t) for t in turns] == [["answers", "key", "prompt", "timestamp"]] * 2
    assert [t["prompt"] for t in turns] == ["Hi", "Where to?"]
    assert [t.attached() for t in conversations.load("plain").turns] == [[], []]
    expected = [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Where to?"},
        {"role": "assistant", "content": "Porto."},
        {"role": "user", "content": "And then?"},
    ]
    loaded = conversations.load("plain")
    assert loaded.messages_for(MODEL, "And then?", "k3") == expected
    assert loaded.messages_for(MODEL, Prompt.of(["And then?"]), "k3") == expected
    assert loaded.messages_for(MODEL, "Hi again", "k2") == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Hi again"},
    ]
    assert not (data / "attachments").exists()  # text-only turns never touch the store

    memory = Conversation(name="")
    memory.record("k1", "Hi", {MODEL: "Hello."})
    memory.record("k2", Prompt.of(["Where to?"]), {MODEL: "Porto."}, system="Be kind.")
    assert [t.parts for t in memory.turns] == [None, None]
    assert memory.messages_for(MODEL, "And then?", "k3") == expected


def test_an_old_format_chat_file_still_loads_and_keeps_its_unknown_keys(data):
    folder = data / "chats"
    folder.mkdir(parents=True)
    (folder / "old.json").write_text(json.dumps({
        "name": "old", "system": None, "written_by": "edge_jupyter 0.0.1",
        "turns": [{"key": "k1", "prompt": "Hi", "answers": {MODEL: "Hello."},
                   "timestamp": 1700000000.0, "mood": "cheerful"}],
    }), "utf-8")
    loaded = conversations.load("old")
    assert loaded.messages_for(MODEL, "Hm?", "k2") == [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Hm?"}]

    fig = image(figure_png())
    conversations.record_turn("old", "k2", Prompt.of(["See ", fig]), {MODEL: "A plot."})
    raw = chat_file("old")
    assert raw["written_by"] == "edge_jupyter 0.0.1"
    assert raw["turns"][0] == {"key": "k1", "prompt": "Hi", "answers": {MODEL: "Hello."},
                               "timestamp": 1700000000.0, "mood": "cheerful"}
    assert raw["turns"][1]["prompt"] == "See " and raw["turns"][1]["parts"][1]["attachment"] == fig.sha256


def test_a_turn_s_parts_and_their_unknown_keys_survive_an_unrelated_save(data):
    fig = image(figure_png())
    conversations.record_turn("trip", "k1", Prompt.of(["See ", fig]), {MODEL: "Yes."})
    path = data / "chats" / "trip.json"
    raw = json.loads(path.read_text("utf-8"))
    raw["turns"][0]["parts"][1]["detail"] = "high"  # a newer version's key inside a part
    path.write_text(json.dumps(raw), "utf-8")
    conversations.record_turn("trip", "k2", "text only", {MODEL: "Ok."})
    parts = chat_file("trip")["turns"][0]["parts"]
    assert parts[1]["detail"] == "high" and parts[1]["attachment"] == fig.sha256


def test_an_older_edge_jupyter_reads_a_new_file_and_keeps_its_parts(data, monkeypatch):
    # The released conversations.py (before attachments) as it is in git: it must take a
    # turn with "parts" for a valid turn, and write the key back when it adds a turn.
    try:
        old_source = subprocess.run(["git", "show", "41a3769:edge_jupyter/conversations.py"],
                                    cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("the released conversations.py is not in this checkout's git history")
    import importlib.util

    spec = importlib.util.spec_from_loader("edge_jupyter._released_conversations", loader=None)
    assert spec is not None
    released = importlib.util.module_from_spec(spec)
    released.__package__ = "edge_jupyter"
    monkeypatch.setitem(sys.modules, spec.name, released)  # its dataclasses look it up there
    exec(compile(old_source, "released_conversations.py", "exec"), released.__dict__)

    fig = image(figure_png())
    conversations.record_turn("trip", "k1", Prompt.of(["See ", fig]), {MODEL: "A plot."})
    assert released.load("trip").messages_for(MODEL, "next", "k2")[0] == {"role": "user",
                                                                          "content": "See "}
    released.record_turn("trip", "k2", "next", {MODEL: "Ok."})
    assert chat_file("trip")["turns"][0]["parts"][1]["attachment"] == fig.sha256
    content = conversations.load("trip").messages_for(MODEL, "and?", "k3")[0]["content"]
    assert content[1]["image_url"]["url"] == fig.data_url()


# -- damage ------------------------------------------------------------------------------------

def test_a_deleted_attachment_fails_naming_the_turn_and_rerunning_its_cell_restores_it(data):
    fig = image(figure_png())
    conversations.record_turn("trip", "k1", "Hi", {MODEL: "Hello."})
    conversations.record_turn("trip", "k2", Prompt.of(["See ", fig]), {MODEL: "A plot."})
    path = data / "attachments" / fig.sha256[:2] / fig.sha256
    path.unlink()

    with pytest.raises(ConversationError) as info:
        conversations.load("trip").messages_for(MODEL, "next", "k3")
    message = str(info.value)
    assert message.startswith("Conversation 'trip': turn 2's attachment figure.png is missing")
    assert str(path) in message and "%edge forget trip" in message and "\n" not in message
    assert "run the cell that made turn 2 again" in message

    # that cell's re-run sees only turn 1, and stores the figure again
    assert conversations.load("trip").messages_for(MODEL, "See", "k2")[-1] == {
        "role": "user", "content": "See"}
    conversations.record_turn("trip", "k2", Prompt.of(["See ", fig]), {MODEL: "A plot."})
    content = conversations.load("trip").messages_for(MODEL, "next", "k3")[2]["content"]
    assert content[1]["image_url"]["url"] == fig.data_url()


def test_a_damaged_attachment_is_kept_aside_reported_and_stored_again_on_the_next_save(data):
    fig = image(figure_png())
    conversations.record_turn("trip", "k1", Prompt.of(["See ", fig]), {MODEL: "A plot."})
    path = data / "attachments" / fig.sha256[:2] / fig.sha256
    damaged = bytearray(fig.data)
    damaged[len(damaged) // 2] ^= 0xFF  # same size: only the hash can tell
    path.write_bytes(bytes(damaged))

    with pytest.raises(ConversationError) as info:
        conversations.load("trip").messages_for(MODEL, "next", "k2")
    message = str(info.value)
    kept = next(path.parent.glob(f"{fig.sha256}.damaged-*"))
    assert "turn 1's attachment figure.png is damaged" in message and str(kept) in message
    assert kept.read_bytes() == bytes(damaged) and not path.exists()

    conversations.record_turn("trip", "k2", Prompt.of(["Again ", fig]), {MODEL: "Same plot."})
    assert path.read_bytes() == fig.data
    assert len(conversations.load("trip").messages_for(MODEL, "next", "k3")) == 5


def test_an_attachment_cut_short_by_another_program_is_written_again(data):
    fig = image(figure_png())
    conversations.record_turn("trip", "k1", Prompt.of([fig]), {MODEL: "a"})
    path = data / "attachments" / fig.sha256[:2] / fig.sha256
    path.write_bytes(fig.data[:100])
    conversations.record_turn("trip", "k2", Prompt.of([fig]), {MODEL: "b"})
    assert path.read_bytes() == fig.data


@pytest.mark.parametrize("parts, problem", [
    ("figure", "'parts' should be a list"),
    ([], "'parts' should be a list"),
    ([{"attachment": "not-a-hash", "kind": "image", "mime": "image/png", "filename": "f.png"}],
     "part 1: neither 'text' nor an 'attachment' hash"),
    ([{"text": "hi"}, {"attachment": "a" * 64, "kind": "video", "mime": "x", "filename": "f"}],
     "part 2: 'kind' should be"),
    ([{"attachment": "a" * 64, "kind": "image", "filename": "f.png"}], "part 1: 'mime' should be text"),
    ([{"attachment": "a" * 64, "kind": "file", "mime": "application/pdf", "filename": "p.pdf",
       "pages": "12"}], "part 1: 'pages' should be a whole number"),
    ([{"text": 3}], "part 1: 'text' should be text"),
    (["hi"], "part 1: not an object"),
])
def test_a_damaged_parts_list_is_a_damaged_chat_file(data, parts, problem):
    folder = data / "chats"
    folder.mkdir(parents=True)
    path = folder / "trip.json"
    path.write_text(json.dumps({"turns": [
        {"key": "k1", "prompt": "ok", "answers": {}, "timestamp": 1.0},
        {"key": "k2", "prompt": "x", "answers": {}, "timestamp": 1.0, "parts": parts}]}), "utf-8")
    with pytest.raises(ConversationError) as info:
        conversations.load("trip")
    message = str(info.value)
    assert "turn 2's attachments are damaged" in message and problem in message
    kept = next(folder.glob("trip.json.damaged-*"))
    assert str(kept) in message and not path.exists()
    assert conversations.diagnose("trip") is None  # removed: the next cell starts afresh


# -- forget collects what no chat refers to -------------------------------------------------------

def test_forget_removes_the_attachments_no_chat_refers_to_any_more(data):
    shared, own, kept = image(figure_png("tab:green")), pdf(pdf_bytes(1)), image(figure_png("k"))
    conversations.record_turn("a", "k1", Prompt.of(["x", shared, own]), {MODEL: "a"})
    conversations.record_turn("b", "k1", Prompt.of(["y", shared]), {MODEL: "b"})
    conversations.record_turn("c", "k1", Prompt.of(["z", kept]), {MODEL: "c"})
    (data / "chats" / "c.json").rename(data / "chats" / "c.json.damaged-20260101T000000-ab12cd34")
    assert len(stored(data)) == 3

    assert conversations.forget("a")
    assert [p.name for p in stored(data)] == sorted([shared.sha256, kept.sha256])
    assert conversations.forget("b")
    assert [p.name for p in stored(data)] == [kept.sha256]  # a damaged chat's copy still refers
    assert not conversations.forget("b")


def test_forget_while_another_thread_saves_turns_never_loses_their_attachments(data):
    # The saving thread's figures are its own: were one collected between being stored and
    # the turn naming it being written, nothing would store it again.
    figures = [image(figure_png(colour=f"C{i % 10}", size=(2 + i / 10, 1.5))) for i in range(12)]
    dropped = image(figure_png("black"))
    errors: list[BaseException] = []

    def save() -> None:
        try:
            for i, fig in enumerate(figures):
                conversations.record_turn("keep", f"k{i}", Prompt.of([f"fig {i}", fig]), {MODEL: "ok"})
        except BaseException as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)

    def forget() -> None:
        try:
            while save_thread.is_alive():
                conversations.record_turn("drop", "k", Prompt.of(["x", dropped]), {MODEL: "x"})
                conversations.forget("drop")
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    save_thread = threading.Thread(target=save)
    threads = [save_thread, threading.Thread(target=forget)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    messages = conversations.load("keep").messages_for(MODEL, "next", "new")
    assert [m["content"][1]["image_url"]["url"] for m in messages[0:-1:2]] == [
        f.data_url() for f in figures]
    assert sorted(p.name for p in stored(data)) == sorted({f.sha256 for f in figures})


# -- two kernels at once -----------------------------------------------------------------------

_WORKER = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from edge_jupyter import conversations
    from edge_jupyter.content import Attachment, Prompt
    start, ready, folder, me = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    def att(name):
        return Attachment(kind="image", data=(folder / name).read_bytes(), mime="image/png",
                          filename=name)
    shared, own = att("shared.png"), att(me + ".png")
    ready.touch()
    while not start.exists():
        time.sleep(0.005)
    for i in range(15):
        conversations.record_turn("shared", "%s-%d" % (me, i), Prompt.of(["q%d " % i, shared, own]),
                                  {{"m": "a%d" % i}})
''')


def test_two_processes_recording_turns_with_attachments_keep_both(tmp_path, data):
    images = tmp_path / "images"
    images.mkdir()
    pngs = {"shared.png": figure_png("tab:blue"), "w0.png": figure_png("tab:red"),
            "w1.png": figure_png("tab:green")}
    for name, blob in pngs.items():
        (images / name).write_bytes(blob)
    start = tmp_path / "start"
    env = {**os.environ, "EDGE_DATA_DIR": str(data),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    code = _WORKER.format(root=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", code, str(start), str(tmp_path / f"ready-{w}"),
                               str(images), f"w{w}"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for w in range(2)]
    try:
        for w in range(2):
            while not (tmp_path / f"ready-{w}").exists():
                assert procs[w].poll() is None, procs[w].communicate()
                threading.Event().wait(0.01)
        start.touch()
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()

    loaded = conversations.load("shared")
    assert sorted(t.key for t in loaded.turns) == sorted(f"w{w}-{i}" for w in range(2) for i in range(15))
    hashes = {name: hashlib.sha256(blob).hexdigest() for name, blob in pngs.items()}
    assert sorted(p.name for p in stored(data)) == sorted(hashes.values())  # each once
    messages = loaded.messages_for("m", "next", "new")
    for turn, user in zip(loaded.turns, messages[0:-1:2], strict=True):
        me = turn.key.split("-")[0]
        urls = [p["image_url"]["url"] for p in user["content"] if p["type"] == "image_url"]
        encoded = [base64.b64decode(u.partition(",")[2]) for u in urls]
        assert encoded == [pngs["shared.png"], pngs[f"{me}.png"]]


# -- replay keys --------------------------------------------------------------------------------

def body_with(*attachments: Attachment, text: str = "What is wrong with this plot? ") -> dict[str, Any]:
    return {"model": MODEL, "stream": True,
            "messages": [{"role": "user", "content": Prompt.of([text, *attachments]).content()}]}


def test_a_text_only_request_key_is_what_it_always_was():
    body = {"model": MODEL, "stream": True, "temperature": 0.2,
            "messages": [{"role": "user", "content": "Hi"}]}
    blob = ('{"messages":[{"content":"Hi","role":"user"}],"model":"openai/gpt-4o-mini",'
            '"temperature":0.2}')
    assert replay.request_key(body) == hashlib.sha256(blob.encode()).hexdigest()


def test_the_same_figure_bytes_replay_for_free_and_changed_bytes_are_a_new_key(data):
    drawn_once, drawn_again = figure_png(), figure_png()  # drawn twice: the same bytes
    assert drawn_once == drawn_again
    body = body_with(image(drawn_once))
    record = CallRecord(model=MODEL, text="The y axis has no label.", status="ok", cost_usd=0.0042)
    replay.store(body, record)

    same = body_with(image(drawn_again, filename="another-name.png"))
    assert replay.request_key(same) == replay.request_key(body)
    entry = replay.lookup(same)
    assert entry is not None and entry["text"] == "The y axis has no label."
    again = CallRecord(model=MODEL)
    assert replay.apply(entry, again) == pytest.approx(0.0042)
    assert (again.cost_usd, again.status, again.text) == (0.0, "replayed", "The y axis has no label.")

    changed = bytearray(drawn_once)
    changed[-20] ^= 0x01  # one byte of the figure
    for other in (body_with(image(drawn_once), pdf(pdf_bytes(1))),
                  body_with(Attachment(kind="image", data=bytes(changed), mime="image/png",
                                       filename="figure.png")),
                  body_with(Attachment(kind="image", data=drawn_once, mime="image/jpeg",
                                       filename="figure.png"))):
        assert replay.request_key(other) != replay.request_key(body)
        assert replay.lookup(other) is None
    # the key covers the attachment's hash, not its base64 text: a data URL's place in the key
    assert image(drawn_once).data_url() not in json.dumps(replay._hashed_message(body["messages"][0]))


def test_a_replay_key_with_history_attachments_changes_with_them(data):
    a, b = image(figure_png("tab:blue")), image(figure_png("tab:red"))
    conversations.record_turn("trip", "k1", Prompt.of(["See ", a]), {MODEL: "Blue."})
    first = {"model": MODEL, "messages": conversations.load("trip").messages_for(MODEL, "And?", "k2")}
    conversations.record_turn("trip", "k1", Prompt.of(["See ", b]), {MODEL: "Blue."})
    second = {"model": MODEL, "messages": conversations.load("trip").messages_for(MODEL, "And?", "k2")}
    assert replay.request_key(first) != replay.request_key(second)


# -- end to end: the engine, the sandbox --------------------------------------------------------

def _chat_calls(sb) -> list[Any]:
    return [q for q in sb.requests if q.path.endswith("/chat/completions")]


def test_a_named_chat_resends_a_stored_figure_and_an_unchanged_one_replays_for_free(edge_env, sb):
    import edge_jupyter as edge

    fig_bytes = figure_png()
    chat = edge.Chat(MODEL, name="plots", max_tokens=10)
    chat.ask(["What is wrong with this plot? ", image(fig_bytes)])
    chat.ask("How would you fix it?")
    history = _chat_calls(sb)[-1].json["messages"]
    sent = history[0]["content"]
    assert [p["type"] for p in sent] == ["text", "image_url"]
    assert base64.b64decode(sent[1]["image_url"]["url"].partition(",")[2]) == fig_bytes
    assert history[-1] == {"role": "user", "content": "How would you fix it?"}
    assert "base64" not in (Path(edge_env["EDGE_DATA_DIR"]) / "chats" / "plots.json").read_text()

    before = len(_chat_calls(sb))
    first = edge.ask(["Describe ", image(fig_bytes)], model=MODEL, max_tokens=10, replay=True)
    assert first.status == "ok" and len(_chat_calls(sb)) == before + 1
    again = edge.ask(["Describe ", image(figure_png())], model=MODEL, max_tokens=10, replay=True)
    assert again.status == "replayed" and again.cost_usd == 0.0 and again.text == first.text
    assert len(_chat_calls(sb)) == before + 1  # nothing sent
    changed = edge.ask(["Describe ", image(figure_png("tab:red"))], model=MODEL, max_tokens=10,
                       replay=True)
    assert changed.status == "ok" and len(_chat_calls(sb)) == before + 2

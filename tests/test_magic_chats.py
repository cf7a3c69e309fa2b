"""Named conversations across cells, re-runs and kernel restarts; line subcommands."""

from __future__ import annotations


def sent_messages(sb):
    return sb.completions[-1].messages


def test_conversation_continues_and_rerun_replaces_the_turn(kernel, sb):
    kernel.ok("%%edge -m openai/gpt-4o-mini --chat trip -s 'Be brief.'\nPlan a trip", cell_id="c1")
    first_answer = sb.completions[-1].text
    kernel.ok("%%edge -m openai/gpt-4o-mini --chat trip\nMake it cheaper", cell_id="c2")
    assert sent_messages(sb) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Plan a trip"},
        {"role": "assistant", "content": first_answer},
        {"role": "user", "content": "Make it cheaper"},
    ]
    # re-running the first cell sees only what came before it, and replaces its turn
    kernel.ok("%%edge -m openai/gpt-4o-mini --chat trip\nPlan a trip to Oslo", cell_id="c1")
    assert sent_messages(sb)[1:] == [{"role": "user", "content": "Plan a trip to Oslo"}]
    history = kernel.run("%edge history trip").all_text
    assert history.count("you:") == 2
    assert "Plan a trip to Oslo" in history and "Make it cheaper" in history


def test_conversation_survives_a_kernel_restart(kernel, sb):
    kernel.ok("%%edge -m openai/gpt-4o-mini --chat memory\nRemember 42", cell_id="m1")
    answer = sb.completions[-1].text
    kernel.restart()
    kernel.ok("%load_ext edge_jupyter")
    kernel.ok("%%edge -m openai/gpt-4o-mini --chat memory\nWhat number?", cell_id="m2")
    assert sent_messages(sb)[:2] == [{"role": "user", "content": "Remember 42"},
                                     {"role": "assistant", "content": answer}]


def test_each_model_continues_its_own_thread(kernel, sb):
    kernel.ok("%%edge -m openai/gpt-4o-mini -m google/gemini-2.0-flash-001 --chat duo\nHi", cell_id="d1")
    answers = {c.model: c.text for c in sb.completions[-2:]}
    kernel.ok("%%edge -m openai/gpt-4o-mini -m google/gemini-2.0-flash-001 --chat duo\nAnd?", cell_id="d2")
    for completion in sb.completions[-2:]:
        assert completion.messages[1] == {"role": "assistant", "content": answers[completion.model]}


def test_chats_listing_and_forget(kernel, sb):
    kernel.ok("%%edge -m openai/gpt-4o-mini --chat listed\nHi", cell_id="l1")
    assert "listed" in kernel.value("list(get_ipython().run_line_magic('edge', 'chats')['chat'])")
    assert "Forgot 'listed'" in kernel.ok("%edge forget listed").all_text
    assert "listed" not in kernel.value("list(get_ipython().run_line_magic('edge', 'chats')['chat'])")
    run = kernel.run("%edge history listed")
    assert run.status == "error" and "No conversation named" in run.all_text


def test_bad_chat_name_is_refused(kernel, sb):
    run = kernel.run("%%edge --chat '../etc'\nHi")
    assert run.status == "error" and "not allowed" in run.all_text


def test_chat_names_with_a_newline_or_only_dots_are_refused(kernel, sb):
    before = len(sb.completions)
    for name in ("trip\n", ".", "..", ".hidden"):
        # run_cell_magic: the only way a newline can reach the flag, as a notebook's code might
        run = kernel.run(f"get_ipython().run_cell_magic('edge', \"--chat '\" + {name!r} + \"'\", 'Hi')")
        assert run.status == "error", name
        assert "not allowed" in run.all_text and "letters, digits" in run.all_text, run.all_text
    assert len(sb.completions) == before
    assert kernel.run("%edge forget ..").status == "error"
    assert kernel.run("%edge history .").status == "error"


def test_a_repeated_prompt_without_a_cell_id_is_a_new_turn(kernel, sb):
    # nbclient, consoles and terminal IPython send no cell id: "go on" twice is two turns
    kernel.ok("%%edge -m openai/gpt-4o-mini --chat goon\ngo on")
    first = sb.completions[-1].text
    kernel.ok("%%edge -m openai/gpt-4o-mini --chat goon\ngo on")
    assert sent_messages(sb) == [
        {"role": "user", "content": "go on"},
        {"role": "assistant", "content": first},
        {"role": "user", "content": "go on"},
    ]
    assert kernel.run("%edge history goon").all_text.count("you:") == 2


def test_two_kernels_writing_one_chat_keep_both_turns(kernel, kernel_env, sb):
    import threading

    from kernel_harness import Kernel

    other = Kernel(kernel_env)
    try:
        other.ok("%load_ext edge_jupyter")
        sb.tokens_per_second = 20.0  # both cells read the chat before either saves its turn
        runs = {}

        def ask(name, k, cell_id):
            runs[name] = k.run(f"%%edge -m openai/gpt-4o-mini --chat both\nfrom {name}",
                               cell_id=cell_id, timeout=90)

        threads = [threading.Thread(target=ask, args=("one", kernel, "b1")),
                   threading.Thread(target=ask, args=("two", other, "b2"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(r.status == "ok" for r in runs.values()), [r.all_text for r in runs.values()]
        history = kernel.run("%edge history both").all_text
        assert "from one" in history and "from two" in history
    finally:
        sb.tokens_per_second = 0.0
        other.shutdown()


def test_use_sets_the_default_model_and_checks_it(kernel, sb):
    kernel.ok("%edge use anthropic/claude-3.5-haiku")
    kernel.ok("%%edge\nWho are you?")
    assert sb.completions[-1].model == "anthropic/claude-3.5-haiku"
    run = kernel.run("%edge use anthropic/claude-3.5-haikoo")
    assert run.status == "error" and "Did you mean: anthropic/claude-3.5-haiku" in run.all_text
    kernel.ok("%edge use openai/gpt-4o-mini")


def test_models_is_a_searchable_sortable_frame(kernel, sb):
    frame = kernel.value("get_ipython().run_line_magic('edge', 'models gpt --sort price')"
                         ".to_dict(orient='list')")
    assert frame["id"] and all("gpt" in i for i in frame["id"])
    prices = frame["completion_usd_per_m"]
    assert prices == sorted(prices)
    assert 0.6 in prices and frame["context_length"][0] == 128000
    free = kernel.value("list(get_ipython().run_line_magic('edge', 'models --free')['id'])")
    assert free and all(i.endswith(":free") for i in free)


def test_status_shows_source_and_origin_but_never_the_key(kernel, sb):
    run = kernel.ok("%edge status")
    text = run.all_text
    assert "environment" in text and sb.url in text and sb.key not in text


def test_subcommand_help_and_unknown_subcommand(kernel):
    assert "default model" in kernel.ok("%edge use --help").all_text
    run = kernel.run("%edge modles")
    assert run.status == "error" and "Did you mean `%edge models`" in run.all_text
    assert "budget" in kernel.ok("%edge").all_text

"""`fastnn bench`'s table and closing sentence, from rows of known figures."""
from fastnn import bench


def row(mode, batch, speed, acc, seconds=None, searched=True, repeats=1, target=0.9, peers=()):
    r = {"mode": mode, "batch_size": batch, "lr": 0.05, "lr_searched": searched, "examples_per_s": speed,
         "examples_per_s_min": speed * 0.9, "examples_per_s_max": speed * 1.1, "seconds_per_epoch": 1.0,
         "compile_s": 0.1, "train_loss": 0.3, "test_accuracy": acc, "target": target, "seconds_to_target": seconds,
         "examples_to_target": None if seconds is None else 1000, "epochs": 3, "repeats": repeats}
    for p in peers:
        r.update({f"{p}_examples_per_s": speed / 4, f"{p}_ratio": 4.0, f"{p}_test_accuracy": acc,
                  f"{p}_seconds_to_target": None if seconds is None else seconds * 5})
    return r


def rows(**kw):
    return [row("online", 1, 180_000, 0.95, 2.0, **kw), row("minibatch", 32, 260_000, 0.93, 5.0, **kw),
            row("batch", 60000, 250_000, 0.50, None, **kw)]


def test_the_table_fits_120_columns_with_both_peers_and_marks_searched_rates():
    text = bench.format_table(rows(peers=("torch", "sklearn")))
    lines = text.splitlines()
    assert max(map(len, lines)) <= 120
    assert "spread" not in lines[0]  # one repeat: no spread to show
    assert lines[2].split()[2] == "0.05*" and lines[-1 - 2 * 6].startswith("* the rate a short search picked")
    for peer in ("torch", "sklearn"):  # a block each, with the peer's seconds to the target
        block = lines[lines.index(next(l for l in lines if l.startswith(peer))):][:5]
        assert "s to 0.9" in block[0] and block[2].split()[-1] == "10" and block[4].split()[-1] == "-"


def test_the_spread_appears_with_repeats_and_given_rates_are_unmarked():
    lines = bench.format_table(rows(repeats=3, searched=False)).splitlines()
    assert "spread" in lines[0] and lines[2].split()[4] == "20%"
    assert "*" not in "\n".join(lines)


def test_the_closing_sentence_answers_which_mode():
    text = bench.verdict(rows(peers=("torch",)))
    assert text == ("online reached 0.9 test accuracy first, in 2 s (2.5x sooner than mini-batch 32, the next); "
                    "torch's fastest mode took 10 s (5.0x as long); the highest throughput was mini-batch 32's "
                    "(260,000 examples/s).")
    assert bench.verdict([row("online", 1, 1000, 0.5, target=None), row("batch", 9, 2000, 0.4, target=None)]) == (
        "After 3 epoch(s), online reached the best test accuracy (0.5000); the highest throughput was full batch's "
        "(2,000 examples/s). --target-accuracy compares the time to an accuracy.")
    assert bench.verdict([row("online", 1, 1000, 0.5)]).startswith("No mode reached 0.9 test accuracy in 3 epoch(s)")


def test_a_diverged_mode_never_wins_the_closing_sentence():
    nan = float("nan")
    text = bench.verdict([row("online", 1, nan, nan, target=None), row("minibatch", 32, 1000, 0.5, target=None)])
    assert text.startswith("After 3 epoch(s), mini-batch 32 reached the best test accuracy (0.5000)")
    assert bench.verdict([row("online", 1, nan, nan)]) == "Every mode diverged: lower --lr."

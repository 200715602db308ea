//! Absurd flag values: refused before anything is written, the message naming the flag.

use super::*;

#[test]
fn absurd_flags_are_refused_naming_the_flag() {
    let run = trained_run("bad-flags-run", "tiny-cnn");
    let runs = common::temp_dir("bad-flags");
    let r = runs.to_str().unwrap();
    let run_s = run.to_str().unwrap();
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "epochs 0",
            vec!["train", "--synthetic", "--epochs", "0", "--runs", r],
            "epochs",
        ),
        (
            "batch size 100 million",
            vec!["train", "--synthetic", "--batch-size", "100000000", "--runs", r],
            "batch size",
        ),
        (
            "learning rate NaN",
            vec!["train", "--synthetic", "--lr", "nan", "--runs", r],
            "learning rate",
        ),
        (
            "dropout 1.5",
            vec!["train", "--synthetic", "--dropout", "1.5", "--runs", r],
            "dropout",
        ),
        (
            "channels 0",
            vec!["train", "--synthetic", "--channels", "0", "--runs", r],
            "channels",
        ),
        (
            "kernel 4",
            vec!["train", "--synthetic", "--kernel", "4", "--runs", r],
            "kernel",
        ),
        (
            "fraction 2",
            vec!["train", "--synthetic", "--fraction", "2", "--runs", r],
            "fraction",
        ),
        (
            "synthetic size 0",
            vec!["train", "--synthetic", "--synthetic-size", "0", "--runs", r],
            "--synthetic-size",
        ),
        (
            "weight decay 5",
            vec!["train", "--synthetic", "--weight-decay", "5", "--runs", r],
            "weight decay",
        ),
        (
            "time budget negative",
            vec!["train", "--synthetic", "--time-budget=-3", "--runs", r],
            "time budget",
        ),
        (
            "ensemble of 0 models",
            vec![
                "experiment",
                "ensemble",
                "--synthetic",
                "--models",
                "0",
                "--out",
                r,
            ],
            "--models",
        ),
        (
            "ensemble too big for memory",
            vec![
                "experiment",
                "ensemble",
                "--synthetic",
                "--models",
                "50",
                "--per-digit",
                "500",
                "--device",
                "flex",
                "--out",
                r,
            ],
            "available",
        ),
        (
            "saliency of image 999999",
            vec![
                "probe",
                "saliency",
                "--run",
                run_s,
                "--synthetic",
                "--synthetic-size",
                "300",
                "--index",
                "999999",
                "--out",
                r,
            ],
            "999999",
        ),
        (
            "row sweep bar of 100 rows",
            vec![
                "probe",
                "row-sweep",
                "--run",
                run_s,
                "--synthetic",
                "--synthetic-size",
                "300",
                "--bar",
                "100",
                "--out",
                r,
            ],
            "--bar",
        ),
        (
            "remote port 0",
            vec!["eval", "--run", run_s, "--device", "remote://127.0.0.1:0"],
            "remote://",
        ),
        (
            "serve on a malformed address",
            vec!["serve", "--listen", "nowhere"],
            "--listen",
        ),
        (
            "token file that does not exist",
            vec![
                "eval",
                "--run",
                run_s,
                "--device",
                "remote://127.0.0.1:9",
                "--token-file",
                "/nonexistent/token",
            ],
            "/nonexistent/token",
        ),
    ];
    for (name, args, needle) in cases {
        refused(name, &args, needle, &runs);
    }
    assert_eq!(
        std::fs::read_dir(&runs).unwrap().count(),
        0,
        "no run or results folder was created"
    );
}

"""The command line on the same runs as the studio: `ftui train|runs|status|stop|predict|evaluate|export`.

It calls the same Services the studio and its API call (same checks, same sentences, same run folders), as
the studio's local owner by default, so a run started here is listed and followed live in a studio started
on the same --runs-dir. No gradio here (only `ftui serve` loads it).

    main.py          arguments, dispatch, exit codes, how a problem is printed
    train.py         ftui train: upload, check, (LR test), start, follow to the end
    progress.py      the progress bar and one line per evaluation, from run_status
    runs.py          ftui runs, status, stop, predict, evaluate, export
    jobs.py          the JobManager of a command: trains what it starts, never the studio's runs
    command_line.py  "show as command": a run's config as an `ftui train` line and a gradio_client call
"""

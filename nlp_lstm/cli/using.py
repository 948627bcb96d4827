"""`nlp-lstm evaluate`, `export`, `predict`, `generate`, `forecast` and `serve`: using a trained
model.

`predict`, `generate`, `forecast` and `serve` go through the predictors of `nlp_lstm.load`, so the
command line, the server, the notebooks and Python code call a model the same way.
"""

import json
import sys
from pathlib import Path

import click

from nlp_lstm.cli.base import (
    TEXT,
    _echo_metrics,
    _library_errors,
    _progress_off_stdout,
    _start_tensorflow,
    _writable_run_dir,
    main,
    run_dir_argument,
)

target_argument = click.argument("target", type=click.Path(exists=True, file_okay=False))
# The signatures' int inputs are int32 (seed: int64); the export's own limits are checked by the
# predictor once it is loaded, before the model runs.
INT32_MAX = 2**31 - 1
BATCH_SIZE = click.IntRange(1, INT32_MAX)
COLUMN_OPTIONS = {
    "text_column": "Classification: the text column of --data.",
    "label_column": "Classification: the label column of --data.",
    "source_column": "Translation: the source column of --data.",
    "target_column": "Translation: the target column of --data.",
}


def _column_options(func):
    for key, text in reversed(COLUMN_OPTIONS.items()):
        func = click.option(f"--{key.replace('_', '-')}", key, type=TEXT, help=text)(func)
    return func


@main.command()
@run_dir_argument
@click.option(
    "--split",
    "splits",
    multiple=True,
    type=click.Choice(["train", "validation", "test"]),
    help="Split to score (repeatable; default: the config's evaluate.splits).",
)
@click.option(
    "--data",
    "data_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Score this new file instead: labelled (classification), parallel "
    "(translation) or running text (generation).",
)
@_column_options
@_library_errors
def evaluate(run_dir, splits, data_path, **columns):
    """Score a trained run on its splits (updates RUN_DIR/metrics.json) or on a new file
    (--data; written to RUN_DIR/evaluations/, the run's metrics stay as they are)."""
    columns = {k: v for k, v in columns.items() if v is not None}
    if data_path is None and columns:
        raise click.UsageError(f"--{next(iter(columns)).replace('_', '-')} needs --data FILE.")
    if data_path is not None and splits:
        raise click.UsageError("Give either --split or --data, not both.")
    _writable_run_dir(run_dir)
    _start_tensorflow()
    from nlp_lstm import artifacts
    from nlp_lstm.pipeline import load_run

    pipeline = load_run(run_dir, with_data=data_path is None)
    if data_path is not None:
        with _progress_off_stdout():
            scored, out = pipeline.evaluate_file(run_dir, data_path, columns)
        _echo_metrics({"data": scored["data"]})
        click.echo(f"metrics: {out / 'metrics.json'}")
        return
    with _progress_off_stdout():
        scored = pipeline.evaluate(run_dir, list(splits) or None)
    metrics = artifacts.read_json(Path(run_dir) / "metrics.json", {})
    metrics.update(scored)
    artifacts.atomic_write_json(Path(run_dir) / "metrics.json", metrics)
    _echo_metrics(scored)


@main.command(name="export")
@run_dir_argument
@_library_errors
def export_command(run_dir):
    """Export a trained run as a SavedModel into RUN_DIR/export/."""
    _writable_run_dir(run_dir)
    _start_tensorflow()
    from nlp_lstm.pipeline import load_run

    with _progress_off_stdout():
        summary = load_run(run_dir).export(run_dir)
    click.echo(f"export: {summary['path']} (signature {summary['signature']})")


def _load_predictor(target, batch_size, command):
    """The predictor of TARGET, or an ExportError when its task is used by another command."""
    _start_tensorflow()
    from nlp_lstm import load
    from nlp_lstm.errors import ExportError
    from nlp_lstm.tasks import TASKS

    try:
        predictor = load(target, batch_size=batch_size, progress=sys.stderr.isatty())
    except ValueError as err:  # a batch size over the export's limits.max_batch_rows
        raise click.BadParameter(str(err), param_hint="'--batch-size'") from None
    verb = TASKS.get(predictor.task).cli_verb
    if verb != command:
        tasks = [name for name in TASKS.names() if TASKS.get(name).cli_verb == command]
        raise ExportError(
            f"{target} is a {predictor.task} export; `nlp-lstm {command}` is for "
            f"{' and '.join(tasks)}. Use `nlp-lstm {verb}`."
        )
    return predictor


def _as_json(as_json):
    return as_json or not sys.stdout.isatty()


@main.command()
@target_argument
@click.argument("texts", nargs=-1, type=TEXT)
@click.option(
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Read texts from a .txt (one per line), .csv/.tsv or .jsonl file.",
)
@click.option(
    "--column",
    default="text",
    show_default=True,
    type=TEXT,
    help="Text column for csv/jsonl input.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@click.option(
    "--batch-size",
    type=BATCH_SIZE,
    help="Texts per model call (default: 64, or the export's limits.max_batch_rows "
    "if lower; at most that limit).",
)
@click.option(
    "--beam-size",
    type=click.IntRange(1, INT32_MAX),
    help="Translation: beam size (1 decodes greedily; default: the export's; at most "
    "its limits.max_beam_size).",
)
@click.option(
    "--max-length",
    type=click.IntRange(1, INT32_MAX),
    help="Translation: most output tokens (default: the export's; at most its "
    "limits.max_output_length).",
)
@_library_errors
def predict(target, texts, input_path, column, as_json, batch_size, beam_size, max_length):
    """Classify or translate TEXTS with a run directory or an exported SavedModel (TARGET)."""
    from nlp_lstm.data.texts import read_texts

    texts = list(texts) + (read_texts(input_path, column) if input_path else [])
    if not texts:
        raise click.UsageError("Give texts as arguments or --input FILE.")
    predictor = _load_predictor(target, batch_size, "predict")
    if hasattr(predictor, "translate"):
        try:
            translated = predictor.translate(texts, beam_size=beam_size, max_length=max_length)
        except ValueError as err:
            raise click.BadParameter(str(err)) from None
        rows = [{"text": t, **r} for t, r in zip(texts, translated)]
        for row in rows:
            click.echo(
                json.dumps(row, ensure_ascii=False)
                if _as_json(as_json)
                else row[predictor.text_field]
            )
        return
    if beam_size or max_length:
        raise click.UsageError("--beam-size and --max-length are for translation exports.")
    try:
        predicted = predictor.predict(texts)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    rows = [{"text": t, **r} for t, r in zip(texts, predicted)]
    if _as_json(as_json):
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    width = min(max(len(r["text"]) for r in rows), 60)
    click.echo(f"{'text':<{width}}  {'label':<12} probability")
    for row in rows:
        text = row["text"] if len(row["text"]) <= width else row["text"][: width - 1] + "…"
        click.echo(f"{text:<{width}}  {row['label']:<12} {row['probability']:.4f}")


@main.command()
@target_argument
@click.option(
    "--prompt",
    "prompts",
    multiple=True,
    type=TEXT,
    help="Text to continue (repeatable; default: one empty prompt).",
)
@click.option(
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Generate for every prompt in a .txt (one per line), .csv/.tsv or .jsonl file.",
)
@click.option(
    "--column",
    default="prompt",
    show_default=True,
    type=TEXT,
    help="Prompt column for csv/jsonl input.",
)
@click.option(
    "-n",
    "--max-new-tokens",
    type=click.IntRange(0, INT32_MAX),
    help="Tokens (characters for char models) to generate (default: 200, or the "
    "export's limits.max_new_tokens if lower; at most that limit); 0 prints the "
    "prompts as they are.",
)
@click.option(
    "--temperature",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.0),
    help="0 is greedy; higher is more random.",
)
@click.option(
    "--top-k",
    default=0,
    show_default=True,
    type=click.IntRange(0, INT32_MAX),
    help="Sample among the k most likely tokens (0: all).",
)
@click.option(
    "--top-p",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.0, 1.0, min_open=True),
    help="Sample among the most likely tokens holding this much probability.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(-(2**63), 2**63 - 1),
    help="The same seed gives the same text.",
)
@click.option(
    "--batch-size",
    type=BATCH_SIZE,
    help="Prompts per model call (default: 64, or the export's limits.max_batch_rows "
    "if lower; at most that limit).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per prompt.")
@_library_errors
def generate(
    target,
    prompts,
    input_path,
    column,
    max_new_tokens,
    temperature,
    top_k,
    top_p,
    seed,
    batch_size,
    as_json,
):
    """Generate text with a language-model run directory or its exported SavedModel (TARGET)."""
    from nlp_lstm.data.texts import read_texts

    prompts = list(prompts) + (read_texts(input_path, column) if input_path else [])
    prompts = prompts or ([] if input_path else [""])
    predictor = _load_predictor(target, batch_size, "generate")
    try:
        texts = predictor.generate(
            prompts,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
        )
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    for prompt, text in zip(prompts, texts):
        click.echo(
            json.dumps({"prompt": prompt, "text": text}, ensure_ascii=False)
            if as_json
            else prompt + text
        )


@main.command()
@target_argument
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A csv/tsv/json/jsonl/parquet table with the timestamp column and the "
    "export's columns; its last input_length rows are the history.",
)
@click.option(
    "--output",
    "output_path",
    type=click.Path(dir_okay=False),
    help="Write the forecast CSV here (default: stdout).",
)
@_library_errors
def forecast(target, input_path, output_path):
    """Forecast the next horizon steps after the rows of --input with a forecasting run directory
    or its exported SavedModel (TARGET); writes a CSV of the next timestamps and values."""
    import csv
    import io

    from nlp_lstm.data import series

    predictor = _load_predictor(target, 64, "forecast")
    meta = predictor.metadata
    timestamps, history = series.read_recent(input_path, meta)
    # An export with calendar features computes them from the history rows' timestamps.
    values = predictor.forecast(
        history, timestamps if predictor.calendar_features is not None else None
    )
    future = series.future_timestamps(
        timestamps[-1], meta["step_seconds"], len(values), meta.get("weekdays_only", False)
    )
    handle = io.StringIO()
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow([meta["timestamp_column"], *predictor.target_columns])
    for when, row in zip(future, values):
        writer.writerow(
            [series.format_timestamp(when, meta["step_seconds"]), *(f"{v:.6g}" for v in row)]
        )
    if output_path:
        from nlp_lstm import artifacts

        artifacts.atomic_write_text(Path(output_path), handle.getvalue())
        click.echo(f"forecast: {output_path} ({len(values)} steps)", err=True)
    else:
        click.echo(handle.getvalue(), nl=False)


def _named_exports(paths):
    """NAME=PATH or PATH arguments -> {name: path}; a bare PATH is named after its directory."""
    models = {}
    for item in paths:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = "", item
        path = Path(path)
        if not path.is_dir():
            raise click.BadParameter(
                f"{path} is not a directory (give a run directory or an "
                f"export, optionally as NAME=PATH).",
                param_hint="PATH",
            )
        name = name or (path.parent.name if path.name == "export" else path.name)
        if name in models:
            raise click.BadParameter(
                f"Two exports are named {name!r}; name them: NAME=PATH.", param_hint="PATH"
            )
        models[name] = str(path)
    return models


@main.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH [NAME=PATH ...]")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind (loopback unless told otherwise).",
)
@click.option("--port", default=8501, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--max-batch-size",
    default=32,
    show_default=True,
    type=click.IntRange(min=1),
    help="Most rows merged into one model call.",
)
@click.option(
    "--batch-timeout-ms",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0.0),
    help="How long a batch waits for more requests.",
)
@click.option(
    "--max-queue",
    default=256,
    show_default=True,
    type=click.IntRange(min=1),
    help="Requests waiting per signature before the server answers 503.",
)
@click.option(
    "--max-request-bytes",
    default=1_048_576,
    show_default=True,
    type=click.IntRange(min=1),
    help="Larger request bodies get 413.",
)
@click.option("--no-batching", is_flag=True, help="Call the model once per request.")
@_library_errors
def serve(
    paths, host, port, max_batch_size, batch_timeout_ms, max_queue, max_request_bytes, no_batching
):
    """Serve exports over HTTP with TF Serving's REST API (/v1/models/NAME:predict)."""
    models = _named_exports(paths)
    _start_tensorflow()
    from nlp_lstm.serving.server import run_server

    run_server(
        models,
        host=host,
        port=port,
        max_batch_size=max_batch_size,
        batch_timeout_ms=batch_timeout_ms,
        max_queue=max_queue,
        max_request_bytes=max_request_bytes,
        batching=not no_batching,
    )

"""`nlp-lstm config show` and `config validate`: a pipeline's resolved config, checked without
reading data."""

import click

from nlp_lstm.cli.base import (
    _library_errors,
    _load,
    _start_tensorflow,
    data_dir_option,
    main,
    pipeline_argument,
    set_option,
)


@main.group()
def config():
    """Inspect pipeline configs."""


@config.command()
@pipeline_argument
@set_option
@data_dir_option
@click.option(
    "--origin",
    is_flag=True,
    help="End each line with a `# file` comment naming where the value was set.",
)
@_library_errors
def show(pipeline, overrides, data_dir, origin):
    """Print the resolved config of PIPELINE: the keys its task uses."""
    from nlp_lstm.config.loading import format_config
    from nlp_lstm.tasks import task_for

    config = _load(pipeline, overrides, data_dir)
    text = format_config(config, task_for(config).config_keys, origin=origin)
    click.echo(text.rstrip("\n"))


@config.command()
@pipeline_argument
@set_option
@data_dir_option
@_library_errors
def validate(pipeline, overrides, data_dir):
    """Check PIPELINE: keys, types, values, stage chain, model arguments and their values, and
    each value of tune.search_space (no data read)."""
    config = _load(pipeline, overrides, data_dir)
    _start_tensorflow()
    from nlp_lstm.pipeline import build_pipeline

    build_pipeline(config)
    if config.tune.search_space:
        _check_search_values(config)
    click.echo(f"{pipeline}: OK ({len(config.sources)} file(s): {', '.join(config.sources)})")


def _check_search_values(config):
    """Builds the task once per choice (and per end of each range) of the config's search space,
    so that `model.hidden_dim: {choice: [0, 64]}` fails here and not in the first trial."""
    from nlp_lstm.errors import ConfigError
    from nlp_lstm.runs import search_space
    from nlp_lstm.tasks import task_for

    where = config.where("tune.search_space")
    for param in search_space.parse_search_space(config.tune.search_space, config, where):
        spec = param.spec
        for value in spec.get("choice") or [spec[k] for k in ("min", "max") if k in spec]:
            try:
                task_for(config).from_config(search_space.apply_values(config, {param.name: value}))
            except ConfigError as err:
                raise ConfigError(
                    f"Search space entry `{param.name}` ({where}): the value "
                    f"{value!r} cannot be applied: {err}"
                ) from err

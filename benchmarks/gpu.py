"""GPU: float32 against mixed float16 for ours' classifier, on the cuDNN kernel.

Runs only where TensorFlow sees a GPU; elsewhere the section says so, and the classification
section's op check shows which recurrent kernel the training step traced.
"""

from pathlib import Path

from benchmarks import classification, corpora, harness, workers

PRECISIONS = ("float32", "mixed_float16")


def run(context):
    import tensorflow as tf

    section = harness.Section("GPU: the cuDNN kernel and mixed precision")
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        section.text(
            "No GPU is visible to TensorFlow on this machine, so the cuDNN kernel and "
            "mixed precision were not measured in this run.",
            "",
        )
        return section
    size = classification.QUICK if context.quick else classification.FULL
    work = Path(context.work_dir) / "gpu"
    paths, _ = corpora.write_long_tailed(work / "long_tailed", size.synthetic)
    data = corpora.long_tailed_data_config(paths)
    systems = {}
    try:
        for precision in PRECISIONS:
            systems[precision] = workers.Worker(
                "benchmarks.classification:Ours",
                {
                    "raw_config": classification.pipeline_config(
                        data, size, f"bench-gpu-{precision}", precision=precision
                    ),
                    "ids_path": str(work / f"{precision}_ids.npz"),
                },
            )
        seconds = classification.alternate_epochs(context, systems, size.epochs)
        kernels = {name: system.call("recurrent_kernels") for name, system in systems.items()}
        accuracy = {name: system.call("accuracy") for name, system in systems.items()}
    finally:
        for system in systems.values():
            system.close()
    real_tokens = sum(len(s) for s in corpora.load_ids(work / "float32_ids.npz")["train"][0])
    rates = {
        name: harness.median([real_tokens / s for s in values[1:]])
        for name, values in seconds.items()
    }
    section.text(
        f"GPU: {', '.join(gpu.name for gpu in gpus)}. Ours on the long-tailed corpus, "
        f"the two precisions alternating epochs, tokens/s the median over epochs "
        f"2–{size.epochs}.",
        "",
    )
    section.table(
        [
            "precision",
            "recurrent ops in the training step",
            "real tokens/s",
            "vs float32",
            "test accuracy",
        ],
        [
            [
                name,
                ", ".join(kernels[name]),
                rates[name],
                rates[name] / rates["float32"],
                accuracy[name],
            ]
            for name in PRECISIONS
        ],
    )
    section.goals = [
        harness.Goal(
            "GPU: mixed_float16 / float32 training (reported)",
            rates["mixed_float16"] / rates["float32"],
            None,
        )
    ]
    return section

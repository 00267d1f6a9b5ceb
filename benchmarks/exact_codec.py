"""What the codec's exact arithmetic costs: one image through notebooks 09 and 10's networks, float32 against exact.

``vae_helpers.applications.compression`` evaluates the encoder and decoder with
``exact_networks.exact_network`` (integers held in float64) so that a file decodes in any process.
This prints, for the two architectures of notebooks 09 and 10 (the 8-bit discretized-logistic VAE, the binarized
IWAE model), the median time of one call on one image, the float32 tf.function against the exact one,
measured alternately in the same process, and their ratio; then whole images per second through
``compress`` and ``decompress``. ``--smoke``: fewer repetitions and images.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from vae_helpers.applications import compression
from vae_helpers.applications.exact_networks import exact_network
from vae_helpers.core.tf_startup import tf
from vae_helpers.models.discrete import build_discrete_vae
from vae_helpers.models.iwae import build_iwae_vae
from vae_helpers.notebook import format_table, notebook_parameters


def per_call_ms(function, x, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        function(x)
    return (time.perf_counter() - start) / calls * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few calls and images (seconds)")
    args = parser.parse_args()
    mode = "smoke" if args.smoke else "full"
    eight_bit = notebook_parameters("09_compression.ipynb", mode)["EIGHT_BIT_CONFIGS"]["mnist"]
    binary = notebook_parameters("10_bits_back_at_the_iwae_bound.ipynb", mode)["BINARY_CONFIGS"]["IWAE-trained"]
    shape = (28, 28, 1)
    models = {"8-bit (discrete_vae)": build_discrete_vae(shape, eight_bit.latent_dim, eight_bit.filters, seed=0),
              "binarized (iwae_vae)": build_iwae_vae(shape, binary.latent_dim, np.zeros(shape), binary.dense_units, seed=0)}
    calls, rounds, n_images = (20, 3, 8) if args.smoke else (200, 7, 200)
    rows = []
    for name, vae in models.items():
        for part, net in (("encoder", vae.encoder), ("decoder", vae.decoder)):
            spec = tf.TensorSpec((1, *net.input_shape[1:]), tf.float32)
            exact = exact_network(net)
            graphs = {"float32": tf.function(lambda x, n=net: n(x, training=False), input_signature=[spec]),
                      "exact": tf.function(lambda x, n=exact: n(x, training=False), input_signature=[spec])}
            x = tf.zeros(spec.shape)
            times = {key: [] for key in graphs}
            for graph in graphs.values():
                graph(x)
            for _ in range(rounds):                       # alternate, so that both see the same machine
                for key, graph in graphs.items():
                    times[key].append(per_call_ms(graph, x, calls))
            f32, ex = np.median(times["float32"]), np.median(times["exact"])
            rows.append((f"{name} {part}", f32, ex, ex / f32))
    print(format_table(rows, ["network, one image", "float32 ms", "exact ms", "exact / float32"], digits=3))
    rng = np.random.default_rng(0)
    images = {"8-bit (discrete_vae)": np.round(rng.random((n_images, *shape)) * 255).astype("float32") / 255,
              "binarized (iwae_vae)": (rng.random((n_images, *shape)) < 0.2).astype("float32")}
    speed = []
    for name, vae in models.items():
        start = time.perf_counter()
        data = compression.compress(vae, images[name])
        encode_s = time.perf_counter() - start
        start = time.perf_counter()
        assert np.array_equal(compression.decompress(vae, data), images[name])
        speed.append((name, n_images, n_images / encode_s, n_images / (time.perf_counter() - start)))
    print(format_table(speed, ["model (untrained)", "images", "compress images/s", "decompress images/s"], digits=0))


if __name__ == "__main__":
    main()

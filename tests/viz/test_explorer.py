import matplotlib.pyplot as plt
import pytest

from vae_helpers.viz.explorer import explorer_fallback, latent_explorer
from vae_helpers.models.vae import build_vae


@pytest.fixture(scope="module")
def vae():
    return build_vae((8, 8, 1), latent_dim=3, seed=0)


def test_fallback_decodes_along_one_axis(vae):
    fig = explorer_fallback(vae, dim=2, limit=2.0, n=5)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["z3=-2.0", "z3=-1.0", "z3=+0.0", "z3=+1.0", "z3=+2.0"]
    plt.close(fig)


def test_explorer_has_one_slider_per_dim_and_redraws(vae):
    widget = latent_explorer(vae, dims=(0, 2), limit=2.5, step=0.5)
    sliders = [w for w in widget.children if hasattr(w, "min")]
    assert [s.description for s in sliders] == ["z1", "z3"]
    assert all(s.min == -2.5 and s.max == 2.5 and s.step == 0.5 for s in sliders)
    sliders[0].value = 1.0                   # moving a slider calls the decoder again
    assert widget.kwargs == {"z1": 1.0, "z3": 0.0}
    plt.close("all")


@pytest.mark.parametrize("dims", [(), (3,), (0, -1), (True,)])
def test_bad_dims_name_the_argument(vae, dims):
    with pytest.raises(ValueError, match=r"`dims` must be latent coordinates in 0..2"):
        latent_explorer(vae, dims=dims)


def test_bad_limits(vae):
    with pytest.raises(ValueError, match=r"`limit` and `step` must satisfy 0 < step <= limit"):
        latent_explorer(vae, limit=1.0, step=2.0)
    with pytest.raises(ValueError, match=r"`dims` must be latent coordinates"):
        explorer_fallback(vae, dim=5)


def test_explorer_says_what_it_is_where_widgets_cannot_run(vae):
    """GitHub and a notebook not yet run show the text/plain output: a sentence, not ipywidgets' repr."""
    widget = latent_explorer(vae, dims=(0, 1))
    text = widget._repr_mimebundle_()["text/plain"]
    assert text == "Latent explorer: sliders z1, z2 (run the cell in Jupyter to move them)"
    plt.close("all")

"""The walkthrough notebook executes top to bottom on the embedded BBC data."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the dev extra (nbformat, nbclient, ipykernel) is not installed")
nbclient = pytest.importorskip("nbclient", reason="the dev extra (nbformat, nbclient, ipykernel) is not installed")
pytest.importorskip("ipykernel", reason="the dev extra (nbformat, nbclient, ipykernel) is not installed")
pytest.importorskip("matplotlib", reason="the dev extra (matplotlib) is not installed")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "walkthrough.ipynb"


def test_walkthrough_runs(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    # the printed accuracies are real numbers between 0 and 1, and the plot was drawn
    accuracies = [float(line.split("accuracy")[1].split()[0]) for line in text.splitlines() if " accuracy " in line]
    assert len(accuracies) == 9 and all(0.5 < a <= 1 for a in accuracies)
    assert any("image/png" in o.get("data", {}) for o in outputs if o.output_type == "display_data")

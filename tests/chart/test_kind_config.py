"""kind-config.yaml decodes strictly with kind's own v1alpha4 types (unknown fields are errors).

Builds a tiny Go program against sigs.k8s.io/kind (from the Go module proxy) in a temporary
directory; needs ``go`` like the rest of the k8s tests.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.chart.chartlib import REPO

pytestmark = pytest.mark.k8s
KIND_VERSION = "v0.30.0"
CHECKER = """\
package main

import (
	"fmt"
	"os"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

func main() {
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Println("ERROR:", err)
		os.Exit(2)
	}
	var cfg v1alpha4.Cluster
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		fmt.Println("INVALID:", err)
		os.Exit(1)
	}
	v1alpha4.SetDefaultsCluster(&cfg)
	if cfg.Kind != "Cluster" || cfg.APIVersion != "kind.x-k8s.io/v1alpha4" {
		fmt.Println("INVALID: kind/apiVersion", cfg.Kind, cfg.APIVersion)
		os.Exit(1)
	}
	for _, n := range cfg.Nodes {
		fmt.Printf("node %s pool=%s\\n", n.Role, n.Labels["rainbow-scheduler.io/pool"])
		for _, p := range n.ExtraPortMappings {
			fmt.Printf("port %s:%d->%d/%s\\n", p.ListenAddress, p.HostPort, p.ContainerPort, p.Protocol)
		}
	}
}
"""


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.fail(
            "go is not on PATH (needed by the k8s tests: see rainbow/localk8s/README.md)", pytrace=False
        )
    work = tmp_path_factory.mktemp("kindcheck")
    (work / "main.go").write_text(CHECKER)
    (work / "go.mod").write_text("module kindcheck\n\ngo 1.26\n")

    def go_run(*args: str) -> None:
        proc = subprocess.run([go, *args], cwd=work, capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, f"go {' '.join(args)}:\n{proc.stdout}{proc.stderr}"

    go_run("get", f"sigs.k8s.io/kind@{KIND_VERSION}", "sigs.k8s.io/yaml")
    go_run("mod", "tidy")
    go_run("build", "-o", str(work / "kindcheck"), ".")
    return work / "kindcheck"


def check(checker: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(checker), str(config)], capture_output=True, text=True, timeout=30, check=False
    )


def test_kind_config_is_valid(checker: Path) -> None:
    proc = check(checker, REPO / "kind-config.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "node control-plane pool=system" in lines
    assert lines.count("node worker pool=cpu") + lines.count("node worker pool=highmem") == 2
    assert "port 127.0.0.1:50051->30051/TCP" in lines and "port 127.0.0.1:9090->30090/TCP" in lines


def test_the_checker_rejects_unknown_fields(checker: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "kind-config.yaml").read_text().replace("extraPortMappings", "extraPortMapping"))
    proc = check(checker, bad)
    assert proc.returncode == 1 and 'unknown field "extraPortMapping"' in proc.stdout

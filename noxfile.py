"""The kit's task list: `nox --list` reads like a menu.

Sessions run in the environment nox is installed in (the kit's `.venv` from the README's
quick start, or the Docker image), so torch is installed once, not once per session.
Arguments after `--` go to the command each session wraps.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "none"
# Run the kit's environment's own python, pytest, ruff, hadolint and lenet-course, even
# when nox is started as `.venv/bin/nox` without activating the environment.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
nox.options.sessions = ["tests", "lint"]


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (real-MNIST tests included; set LENET_DATA for an offline copy)."""
    # the ten slowest tests end the log: the command's 8-minute budget is spent there
    session.run("python", "-m", "pytest", "-m", "not validation", "--durations=10",
                *session.posargs)  # fmt: skip


@nox.session(default=False)
def validation(session: nox.Session) -> None:
    """The slow whole-kit checks CI also runs: mutants, seeds, full grades, notebooks, release."""
    session.run("python", "-m", "pytest", "-m", "validation", "--durations=15", *session.posargs)


@nox.session(default=False)
def slurm(session: nox.Session) -> None:
    """grade-all on a real Slurm cluster (start one: `scripts/slurm_local.sh start`, as root)."""
    check = subprocess.run(
        ["bash", "scripts/slurm_local.sh", "check"], capture_output=True, text=True
    )
    if check.returncode != 0:
        why = check.stderr.strip() or f"scripts/slurm_local.sh check exited {check.returncode}"
        if os.environ.get("LENET_REQUIRE_SLURM") == "1":
            session.error(f"LENET_REQUIRE_SLURM=1 but {why}")
        session.skip(why)
    session.run(
        "python", "-m", "pytest", "tests/slurm", "-m", "slurm", "-o", "log_cli=true",
        "--log-cli-level=INFO", *session.posargs,
    )  # fmt: skip


@nox.session
def lint(session: nox.Session) -> None:
    """Lint the code with ruff, its layers with import-linter, the Dockerfile with hadolint."""
    session.run("ruff", "check", ".")
    session.run("lint-imports")
    session.run("ruff", "format", "--check", ".")
    session.run("hadolint", "Dockerfile")


@nox.session(default=False)
def check(session: nox.Session) -> None:
    """Students: grade your exercises/ with hints (fast tier; `-- --full` adds training)."""
    session.run("lenet-course", "check", *session.posargs)


@nox.session(default=False)
def grade(session: nox.Session) -> None:
    """Grade one submission: `nox -s grade -- SUBMISSION [--out results.json]`."""
    if not session.posargs:
        session.error("usage: nox -s grade -- SUBMISSION [--out results.json] [--junit FILE]")
    session.run("lenet-course", "grade", *session.posargs)


@nox.session(default=False)
def grade_all(session: nox.Session) -> None:
    """Grade a class: `nox -s grade_all -- FOLDER [--jobs 2] [--force] [--out grades]`."""
    if not session.posargs:
        session.error("usage: nox -s grade_all -- FOLDER [--jobs N] [--force] [--out DIR]")
    session.run("lenet-course", "grade-all", *session.posargs)


@nox.session(default=False)
def similarity(session: nox.Session) -> None:
    """Screen a class for shared files, no grading: `nox -s similarity -- FOLDER [--out DIR]`."""
    if not session.posargs:
        session.error("usage: nox -s similarity -- FOLDER [--out DIR] [--similarity-threshold T]")
    session.run("lenet-course", "similarity", *session.posargs)


@nox.session(default=False)
def mutants(session: nox.Session) -> None:
    """Mutation testing: the kit's mutants must lose points, its variants none (`-- SET...`)."""
    session.run("lenet-course", "mutants", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Per-epoch timing benchmarks, saved per GPU model and compared with its baseline."""
    probe = (
        "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')"
    )
    model = session.run("python", "-c", probe, silent=True).strip().splitlines()[-1]
    storage = Path("benchmarks") / (
        re.sub(r"[^A-Za-z0-9]+", "-", model).strip("-").lower() or "cpu"
    )
    args = [f"--benchmark-storage=file://{storage.resolve()}", "--benchmark-autosave"]
    if any(storage.rglob("*.json")):  # a committed baseline for this card: fail on a >15% slowdown
        args += ["--benchmark-compare", "--benchmark-compare-fail=mean:15%"]
    session.log(f"benchmarks for {model!r} in {storage}")
    session.run(
        "python", "-m", "pytest", "tests/bench", "--target", "solutions", "-rs", *args,
        *session.posargs,
    )  # fmt: skip


@nox.session(default=False)
def validate(session: nox.Session) -> None:
    """Instructors: validate the kit on a GPU (`-- --allow-cpu` for a CPU-only report)."""
    session.run("lenet-course", "validate", *session.posargs)


@nox.session(default=False)
def exercises(session: nox.Session) -> None:
    """Regenerate exercises/ from solutions/."""
    session.run("lenet-course", "make-exercises")


@nox.session(default=False)
def notebooks(session: nox.Session) -> None:
    """Write notebooks/*.ipynb from the jupytext sources notebooks/*.py."""
    session.run("lenet-course", "make-notebooks", *session.posargs)


@nox.session(default=False)
def release(session: nox.Session) -> None:
    """Write the student release: `nox -s release -- OUT [--repo-url URL]`."""
    if not session.posargs:
        session.error("usage: nox -s release -- OUT [--repo-url URL]")
    session.run("lenet-course", "release", "student", *session.posargs)


@nox.session(default=False)
def jail_nonroot(session: nox.Session) -> None:
    """CI, as root: the jail tests and the adversarial suite again as an unprivileged user."""
    import hashlib
    import shutil
    import subprocess
    import tempfile

    if os.geteuid() != 0:
        session.error("jail_nonroot starts as root, to hand the run to an unprivileged user")
    data = Path(os.environ.get("LENET_DATA", Path.home() / ".cache" / "lenet-course" / "data"))
    if not (data / "MNIST" / "raw").is_dir():
        session.error(f"MNIST is not at {data}/MNIST/raw: set LENET_DATA")
    # Everything the other user needs, in a folder it can enter: the checkout may sit in
    # root's 0700 home, and so may this venv's interpreter. The kit and MNIST are copied
    # afresh each run; the venv is kept only while pyproject.toml is byte for byte the same.
    root = Path(tempfile.gettempdir()) / "lenet-nonroot"
    for stale in ("kit", "data", "home"):
        shutil.rmtree(root / stale, ignore_errors=True)
    root.mkdir(mode=0o755, exist_ok=True)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], check=True,
                           capture_output=True, text=True).stdout.split()  # fmt: skip
    for name in files:
        if Path(name).is_file():
            (root / "kit" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(name, root / "kit" / name)
    shutil.copytree(data / "MNIST" / "raw", root / "data" / "MNIST" / "raw")
    python = next(p for p in ("/usr/bin/python3.11", "/usr/bin/python3", sys.executable)
                  if Path(p).exists())  # fmt: skip
    key = hashlib.sha256(Path("pyproject.toml").read_bytes() + python.encode()).hexdigest()
    marker = root / "venv" / "lenet-key"
    if not marker.exists() or marker.read_text() != key:
        shutil.rmtree(root / "venv", ignore_errors=True)
        session.run(python, "-m", "venv", "--without-pip", str(root / "venv"), external=True)
        venv_python = str(root / "venv" / "bin" / "python")
        if _link_site_packages(session, root / "venv"):
            # the packages are this session's own, hard-linked: only the kit copy is installed
            session.run(venv_python, "-m", "pip", "install", "-q", "--no-deps",
                        "--no-build-isolation", "-e", str(root / "kit"), external=True)  # fmt: skip
        else:
            shutil.rmtree(root / "venv")
            session.run(python, "-m", "venv", str(root / "venv"), external=True)
            session.run(venv_python, "-m", "pip", "install", "-q", "-e", f"{root / 'kit'}[dev]",
                        external=True)  # fmt: skip
        marker.write_text(key)
    else:
        session.log(f"reusing {root / 'venv'} (same pyproject.toml); the kit is a fresh copy")
    (root / "home").mkdir()
    subprocess.run(["chmod", "-R", "a+rX", str(root / "kit"), str(root / "data")], check=True)
    subprocess.run(["chmod", "a+rX", str(root), str(root / "venv")], check=True)
    os.chown(root / "home", 65534, 65534)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(root / "home"),
        "LENET_DATA": str(root / "data"),
        "LENET_REQUIRE_JAIL": "1",  # a worker that cannot start fails the run, never skips
        "MPLBACKEND": "Agg",
        "LANG": "C.UTF-8",
    }
    tests = ["tests/grading/test_jail.py", "tests/grading/test_adversarial.py"]
    # cheats the judge stops are the same for any grader's uid: the root sessions meet them
    select = ["-m", "not judge_side"]
    session.log(f"running {' '.join(tests)} as uid 65534 in {root}")
    try:
        with session.chdir(root / "kit"):
            session.run(
                "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                "env", "-i", *(f"{k}={v}" for k, v in env.items()),
                str(root / "venv" / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider",
                "--rootdir", str(root / "kit"), "-rs", *select, *tests, *session.posargs,
                external=True,
            )  # fmt: skip
    finally:
        for done in ("kit", "data", "home"):
            shutil.rmtree(root / done, ignore_errors=True)


def _link_site_packages(session: nox.Session, venv: Path) -> bool:
    """Hard-link this session's installed packages (the kit's own venv, already resolved
    from pyproject.toml) into ``venv``, less the kit itself; False where that cannot be done
    (another Python minor version, or another filesystem), and a full install follows."""
    import sysconfig

    src = Path(sysconfig.get_paths()["purelib"])
    dst = next((venv / "lib").glob("python3.*/site-packages"), None)
    if dst is None or dst.parent.name != src.parent.name:
        return False
    names = [p for p in src.iterdir() if not p.name.startswith(("__editable__", "lenet_course"))]
    done = subprocess.run(["cp", "-al", *map(str, names), str(dst)], capture_output=True, text=True)
    if done.returncode != 0:
        session.log(f"no hard links ({done.stderr.strip()[:200]}): a full install instead")
        return False
    session.log(f"{len(names)} packages hard-linked from {src}")
    return True


# --- the Docker image: built and run for real (tests/image/, README "GPU validation and Docker")

IMAGE = os.environ.get("LENET_IMAGE", "lenet-course")
# The Debian stand-in for python:3.11-slim-bookworm where no registry can be reached
# (LENET_BASE_IMAGE=debian-stand-in): its inputs name its cache key, so a change to them
# builds a new one, and the image itself is always built anew from the Dockerfile.
STAND_IN = (
    "mmdebstrap", "--variant=apt", "--include=python3,python3-venv,bubblewrap,util-linux,ca-certificates",
    "--customize-hook=chroot \"$1\" python3 -m venv /opt/venv", "bookworm",
)  # fmt: skip
STAND_IN_ENV = "PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _engine(session: nox.Session) -> str:
    """$LENET_ENGINE, else docker where its daemon answers, else podman."""
    import shutil
    import subprocess

    if os.environ.get("LENET_ENGINE"):
        return os.environ["LENET_ENGINE"]
    for name in ("docker", "podman"):
        if (
            shutil.which(name)
            and subprocess.run([name, "info"], capture_output=True).returncode == 0
        ):
            return name
    session.error("no container engine answers (docker info, podman info). Fix: start the "
                  "docker daemon, or install podman (apt-get install podman).")  # fmt: skip


def _stand_in_base(session: nox.Session, engine: str) -> str:
    """The Debian bookworm stand-in, made with mmdebstrap once per set of inputs and kept in
    $LENET_IMAGE_CACHE (default /var/cache/lenet-course)."""
    import hashlib
    import subprocess
    import time

    key = hashlib.sha256(repr((STAND_IN, STAND_IN_ENV)).encode()).hexdigest()[:12]
    tag = f"localhost/lenet-base:bookworm-{key}"
    if subprocess.run([engine, "image", "inspect", tag], capture_output=True).returncode == 0:
        session.log(f"base: {tag} (cached; its inputs are unchanged)")
        return tag
    cache = Path(os.environ.get("LENET_IMAGE_CACHE", "/var/cache/lenet-course"))
    cache.mkdir(parents=True, exist_ok=True)
    tar = cache / f"base-bookworm-{key}.tar"
    start = time.monotonic()
    if not tar.is_file():
        part = tar.with_suffix(".part.tar")  # mmdebstrap picks the format from the suffix
        session.run(*STAND_IN, str(part), external=True)
        os.replace(part, tar)
    session.run(engine, "import", "--change", f"ENV {STAND_IN_ENV}", "--change",
                'CMD ["python3"]', str(tar), tag, external=True)  # fmt: skip
    session.log(f"stage base (mmdebstrap stand-in {tag}): {time.monotonic() - start:.0f} s")
    return tag


def _pip_host(session: nox.Session, engine: str, build: Path) -> list[str]:
    """The host's pip configuration, its local folders and its CA bundle, for the build's pip
    and apt steps only: secrets and bind mounts, never a layer. Local paths are remapped:
    podman mounts them under /pip-volumes (--volume), docker finds them under /pip-host (a
    named context of hard links)."""
    import configparser
    import shutil
    import subprocess

    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                            text=True).stdout  # fmt: skip
    conf: dict[str, str] = {}
    for line in listed.splitlines():
        name, _, value = line.partition("=")
        key = name.split(".", 1)[-1]
        conf[key] = value.strip().strip("'\"")
    ca = conf.pop("cert", "") or "/etc/ssl/certs/ca-certificates.crt"
    local: dict[str, str] = {}  # host path -> path in the build
    # podman mounts each folder itself (--volume), beside the Dockerfile's empty /pip-host
    under = "/pip-volumes" if engine == "podman" else "/pip-host"

    def remap(value: str) -> str:
        out = []
        for item in value.split():
            path = item.removeprefix("file://").rstrip("/")
            if path.startswith("/") and os.path.exists(path):
                # an index's pages link to files beside it (../../files/...): mount its parent
                top, name = os.path.split(path) if item.startswith("file://") else (path, "")
                inner = local.setdefault(top, f"{under}/{len(local)}")
                inner = f"{inner}/{name}" if name else inner
                out.append(("file://" if item.startswith("file://") else "") + inner)
            else:
                out.append(item)
        return " ".join(out)

    parser = configparser.ConfigParser()
    parser["global"] = {k: remap(v) for k, v in conf.items()}
    build.mkdir(parents=True, exist_ok=True)
    with open(build / "pip.conf", "w") as f:
        parser.write(f)
    args = ["--secret", f"id=pip.conf,src={build / 'pip.conf'}"]
    if os.path.isfile(ca):
        args += ["--secret", f"id=ca.crt,src={ca}"]
    if engine == "podman":
        args += [f"--volume={host}:{inner}:ro" for host, inner in local.items()]
    elif local:
        farm = build / "pip-host"
        shutil.rmtree(farm, ignore_errors=True)
        farm.mkdir()
        for host, inner in local.items():
            dst = farm / inner.rsplit("/", 1)[-1]
            copy = shutil.copy2 if os.path.isfile(host) else None
            if copy:
                copy(host, dst)
            else:
                session.run("cp", "-al", host, str(dst), external=True, silent=True)
        args += ["--build-context", f"pip-host={farm}"]
    session.log(f"pip: the host's configuration, {len(local)} local folder(s), CA {ca}")
    return args


@nox.session(default=False)
def image(session: nox.Session) -> None:
    """Build the Docker image (docker, else podman); offline: LENET_BASE_IMAGE, LENET_DATA."""
    import subprocess
    import time

    engine = _engine(session)
    build = Path("build") / "image"
    args = [engine, "build", "-t", IMAGE]
    base = os.environ.get("LENET_BASE_IMAGE", "")
    if base == "debian-stand-in":
        base = _stand_in_base(session, engine)
    if base:
        args += ["--build-arg", f"BASE_IMAGE={base}"]
    mnist = Path(os.environ.get("LENET_DATA", "data"))
    if all((mnist / "MNIST" / "raw" / f).is_file() for f in (
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    )):  # fmt: skip
        args += ["--build-context", f"mnist={mnist.resolve()}"]
        session.log(f"MNIST: from {mnist.resolve()} (verified in the build)")
    else:
        session.log("MNIST: downloaded in the build (verified there)")
    args += _pip_host(session, engine, build)
    if engine == "docker":
        args += ["--progress=plain"]
    args += [*session.posargs, "."]
    session.log(" ".join(args))
    start = time.monotonic()
    steps: list[tuple[str, float]] = []
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as p:
        for line in p.stdout:
            print(line, end="", flush=True)
            if re.search(r"STEP \d+/\d+:|^#\d+ \[", line):
                steps.append((line.strip()[:90], time.monotonic()))
    if p.returncode != 0:
        session.error(f"{engine} build failed (exit {p.returncode})")
    end = time.monotonic()
    session.log(f"{engine} build: {end - start:.0f} s; per step:")
    for (name, t0), (_, t1) in zip(steps, [*steps[1:], ("", end)], strict=True):
        session.log(f"  {t1 - t0:6.0f} s  {name}")
    size = subprocess.run([engine, "image", "inspect", "--format", "{{.Size}}", IMAGE],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    session.log(f"image {IMAGE}: {int(size or 0) / 1e9:.2f} GB")


@nox.session(default=False)
def image_test(session: nox.Session) -> None:
    """Run each documented `docker run` line in the built image (tests/image; CPU for GPU)."""
    engine = _engine(session)
    os.environ.setdefault("LENET_IMAGE", IMAGE)
    os.environ.setdefault("LENET_ENGINE", engine)
    # Gradescope's base is Ubuntu 22.04; where no registry answers, the Debian stand-in
    if os.environ.get("LENET_BASE_IMAGE") == "debian-stand-in":
        os.environ.setdefault("LENET_GRADESCOPE_BASE", _stand_in_base(session, engine))
    os.environ.setdefault("LENET_GRADESCOPE_BASE", "ubuntu:22.04")
    # every test's time ends the log: each line's cost, and the jail's against no jail
    session.run("python", "-m", "pytest", "tests/image", "-m", "image", "-v", "--durations=0",
                *session.posargs)  # fmt: skip

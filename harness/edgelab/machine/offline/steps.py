"""The offline build's steps: binaries from Go modules, images from Debian packages.

What `kind build node-image` and the stock images would pull from registries
is made here instead; see docs/offline.md for why each choice was made.
Every step names the pins it uses in `inputs`, so its cache key moves only
when they do.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgelab.base.paths import REPO
from edgelab.base.pins import Pins
from edgelab.machine.images import store_image_names
from edgelab.machine.offline.pipeline import Step, StepContext, image_exists

HACK = REPO / "hack"

# The Kubernetes binaries built from k8s.io/kubernetes; kubectl is the learner's too.
K8S_SERVER = ("kubeadm", "kubelet", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")
K8S_BINARIES = (*K8S_SERVER, "kubectl")

NODE_BASE_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "conntrack", "iptables", "nftables", "iproute2", "ethtool",
    "util-linux", "mount", "kmod", "libseccomp2", "pigz", "bash", "ca-certificates", "curl", "jq",
    "procps", "runc", "containernetworking-plugins", "ipset", "socat", "libbpf1",
    "gpgv",  # apt in the tree verifies the second suite it installs containerd from
)
NET_PACKAGES = ("iptables", "nftables", "ipset", "conntrack", "iproute2", "containernetworking-plugins")
PYTHON_PACKAGES = ("python3", "ca-certificates")

PASSWD = """root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
"""
GROUP = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"


def image_names(p: Pins) -> dict[str, str]:
    """Every image a node holds, by the exact name kubeadm, kind and our manifests ask."""
    k = p.kubernetes
    return {
        "kube-apiserver": f"registry.k8s.io/kube-apiserver:{k}",
        "kube-controller-manager": f"registry.k8s.io/kube-controller-manager:{k}",
        "kube-scheduler": f"registry.k8s.io/kube-scheduler:{k}",
        "kube-proxy": f"registry.k8s.io/kube-proxy:{k}",
        "etcd": f"registry.k8s.io/etcd:{p.etcd_image_tag}",
        "coredns": f"registry.k8s.io/coredns/coredns:{p.coredns}",
        "pause": f"registry.k8s.io/pause:{p.pause}",
        "pause-sandbox": f"registry.k8s.io/pause:{p.pause_sandbox}",
        "local-path-provisioner": p.kind_storage_provisioner_image,
        "local-path-helper": p.kind_storage_helper_image,
        "kube-router": f"docker.io/cloudnativelabs/kube-router:{p.kube_router}",
        "metrics-server": f"registry.k8s.io/metrics-server/metrics-server:{p.metrics_server}",
    }


# --- Go ---------------------------------------------------------------------


def go_env(ctx: StepContext) -> dict[str, str]:
    return {"GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod -buildvcs=false"}


def module_dir(ctx: StepContext, module: str) -> Path:
    out = ctx.sh(["go", "mod", "download", "-json", module], env=go_env(ctx), capture=True, cwd=ctx.out)
    return Path(json.loads(out)["Dir"])


def go_install(package: str, version: str, binary: str, ldflags: str = "-s -w") -> Any:
    def run(ctx: StepContext) -> None:
        env = {**go_env(ctx), "GOBIN": str(ctx.out)}
        ctx.sh(["go", "install", "-trimpath", "-ldflags", ldflags, f"{package}@{version}"], env=env, cwd=ctx.out)
        if not (ctx.out / binary).exists():
            raise FileNotFoundError(f"go install produced no {binary}")

    return run


def build_module(
    ctx: StepContext,
    name: str,
    require: Mapping[str, str],
    replace: Mapping[str, str],
    packages: list[str],
    ldflags: str,
    go_version: str = "1.24.0",
    output: str | None = None,
) -> None:
    """Build `packages` from a throwaway module that requires and replaces modules.

    Needed where a module's own go.mod has `replace` directives (they only
    apply in the main module, so `go install pkg@version` refuses it).
    """
    mod = ctx.out / f".mod-{name}"
    mod.mkdir()
    lines = [f"module edgelab.local/build/{name}", "", f"go {go_version}", ""]
    lines += [f"require {m} {v}" for m, v in require.items()]
    lines += [f"replace {m} => {t}" for m, t in sorted(replace.items())]
    (mod / "go.mod").write_text("\n".join(lines) + "\n")
    env = go_env(ctx)
    target = str(ctx.out / output) if output else str(ctx.out) + "/"
    ctx.sh(["go", "build", "-trimpath", "-ldflags", ldflags, "-o", target, *packages], env=env, cwd=mod)
    shutil.rmtree(mod)


def k8s_ldflags(p: Pins) -> str:
    v = p.kubernetes
    major, minor = v.lstrip("v").split(".")[:2]
    values = {
        "gitVersion": v, "gitMajor": major, "gitMinor": minor,
        "gitCommit": "0" * 40, "gitTreeState": "clean", "buildDate": p.go_build_date,
    }
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.{k}={val}" for k, val in values.items()]
    return " ".join(flags)


def build_kubernetes(p: Pins):
    def run(ctx: StepContext) -> None:
        src = module_dir(ctx, f"k8s.io/kubernetes@{p.kubernetes}")
        edit = json.loads(ctx.sh(["go", "mod", "edit", "-json", str(src / "go.mod")], capture=True, env=go_env(ctx)))
        replace = {
            r["Old"]["Path"]: f"{r['Old']['Path']} {p.kubernetes_staging}"
            for r in edit.get("Replace") or []
            if r["New"]["Path"].startswith("./staging/")
        }
        build_module(
            ctx, "kubernetes", {"k8s.io/kubernetes": p.kubernetes}, replace,
            [f"k8s.io/kubernetes/cmd/{b}" for b in K8S_BINARIES], k8s_ldflags(p),
        )

    return run


def build_etcd(p: Pins):
    def run(ctx: StepContext) -> None:
        build_module(ctx, "etcd", {"go.etcd.io/etcd/server/v3": p.etcd}, {}, ["go.etcd.io/etcd/server/v3"], "-s -w",
                     output="etcd")

    return run


def build_wrapper(ctx: StepContext) -> None:
    ctx.sh(
        ["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(ctx.out / "edgelab-runc"), "."],
        env={**go_env(ctx), "GOFLAGS": "-buildvcs=false"}, cwd=HACK / "runc-wrapper",
    )


def build_pause(p: Pins):
    def run(ctx: StepContext) -> None:
        src = module_dir(ctx, f"k8s.io/kubernetes@{p.kubernetes}") / "build/pause/linux/pause.c"
        ctx.sh(["gcc", "-Os", "-Wall", "-Werror", "-static", f"-DVERSION=v{p.pause}", "-o", str(ctx.out / "pause"), str(src)])
        ctx.sh(["strip", str(ctx.out / "pause")])

    return run


def fetch_busybox(ctx: StepContext) -> None:
    try:
        ctx.sh(["apt-get", "download", "busybox-static"], cwd=ctx.out)
    except subprocess.CalledProcessError:  # a fresh machine may have no package lists yet
        ctx.sh(["apt-get", "update", "-qq"])
        ctx.sh(["apt-get", "download", "busybox-static"], cwd=ctx.out)
    deb = next(ctx.out.glob("busybox-static_*.deb"))
    ctx.sh(["dpkg-deb", "-x", str(deb), str(ctx.out / "x")])
    shutil.move(str(ctx.out / "x/bin/busybox"), ctx.out / "busybox")
    shutil.rmtree(ctx.out / "x")
    deb.unlink()


# --- trees and images ---------------------------------------------------------


def import_tree(ctx: StepContext, root: Path, ref: str, changes: list[str]) -> None:
    """`docker import` a staged tree, keeping owners and file capabilities."""
    cmd = ["docker", "import"]
    for c in changes:
        cmd += ["--change", c]
    cmd += ["-", ref]
    ctx.log("$ tar -C " + str(root) + " ... | " + " ".join(cmd))
    tar = subprocess.Popen(
        ["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", str(root), "-cf", "-", "."],
        stdout=subprocess.PIPE, stderr=ctx._log,
    )
    imp = subprocess.run(cmd, stdin=tar.stdout, stdout=ctx._log, stderr=ctx._log, check=False)
    assert tar.stdout is not None
    tar.stdout.close()
    if tar.wait() != 0 or imp.returncode != 0:
        raise subprocess.CalledProcessError(imp.returncode or tar.returncode, cmd)


def build_context(ctx: StepContext, dockerfile: str, files: Mapping[str, Path]) -> Path:
    """A small `docker build` context in the step's scratch folder: `files` (name → source) and the Dockerfile."""
    context = ctx.out / "context"
    context.mkdir()
    for name, src in files.items():
        dst = context / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dst)
    (context / "Dockerfile").write_text(dockerfile)
    return context


def docker_build(ctx: StepContext, dockerfile: str, files: Mapping[str, Path], ref: str) -> None:
    """A legacy `docker build` (no BuildKit: docker 20.10 here) from a small context."""
    context = build_context(ctx, dockerfile, files)
    ctx.sh(["docker", "build", "--network", "none", "-t", ref, str(context)], env={"DOCKER_BUILDKIT": "0"})


def static_tree(ctx: StepContext) -> Path:
    """A distroless-like root: passwd, group, CA bundle, /tmp."""
    root = ctx.out / "root"
    (root / "etc/ssl/certs").mkdir(parents=True)
    (root / "tmp").mkdir(mode=0o1777)
    (root / "tmp").chmod(0o1777)
    (root / "etc/passwd").write_text(PASSWD)
    (root / "etc/group").write_text(GROUP)
    (root / "etc/nsswitch.conf").write_text("hosts: files dns\n")
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", root / "etc/ssl/certs/ca-certificates.crt")
    return root


def static_image(binaries: Mapping[str, tuple[str, str]], changes: list[str], cap: str | None = None):
    """An image of static binaries: {path in image: (dep step, file in its output)}."""

    def run(ctx: StepContext) -> None:
        root = static_tree(ctx)
        for dest, (dep, name) in binaries.items():
            target = root / dest.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ctx.dep_path(dep) / name, target)
            target.chmod(0o755)
            if cap:
                ctx.sh(["setcap", cap, str(target)])
        import_tree(ctx, root, _self_ref(ctx), ["ENV PATH=/usr/local/bin:/usr/bin:/bin", *changes])

    return run


def _self_ref(ctx: StepContext) -> str:
    return f"edgelab-cache/{ctx.step.name}:{ctx.key}"


class _Mounted:
    """proc/sys/dev mounted into a chroot for apt, always unmounted after."""

    def __init__(self, ctx: StepContext, root: Path) -> None:
        self.ctx, self.root = ctx, root
        # Not /dev: debootstrap made device nodes in the tree, and a bind mount
        # of the host's /dev is one rmtree away from damage.
        self.mounts = [("proc", "proc", ["-t", "proc"]), ("sysfs", "sys", ["-t", "sysfs"])]

    def __enter__(self) -> None:
        for src, dst, opts in self.mounts:
            self.ctx.sh(["mount", *opts, src, str(self.root / dst)])

    def __exit__(self, *_: object) -> None:
        for _src, dst, _opts in reversed(self.mounts):
            subprocess.run(["umount", "-l", str(self.root / dst)], check=False)


def debootstrap(ctx: StepContext, p: Pins, packages: tuple[str, ...]) -> Path:
    root = ctx.out / "rootfs"
    debs = ctx.cache_dir / "debs"  # downloaded .debs, shared by every debootstrap
    debs.mkdir(parents=True, exist_ok=True)
    ctx.sh([
        "debootstrap", "--variant=minbase", f"--cache-dir={debs}", f"--include={','.join(packages)}",
        p.debian_suite, str(root), p.debian_mirror,
    ])
    return root


def slim_rootfs(root: Path) -> None:
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale"):
        d = root / junk
        if d.is_dir():
            for child in d.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                elif child.name != "lock":
                    child.unlink()


def debootstrap_image(p: Pins, packages: tuple[str, ...], changes: list[str]):
    def run(ctx: StepContext) -> None:
        root = debootstrap(ctx, p, packages)
        slim_rootfs(root)
        import_tree(ctx, root, _self_ref(ctx), changes)

    return run


def kind_source(ctx: StepContext, p: Pins) -> Path:
    return module_dir(ctx, f"sigs.k8s.io/kind@{p.kind}")


def node_base(p: Pins):
    """kind's images/base, rebuilt from Debian packages instead of its Dockerfile."""

    def run(ctx: StepContext) -> None:
        kind = kind_source(ctx, p) / "images/base"
        root = debootstrap(ctx, p, NODE_BASE_PACKAGES)
        # containerd 1.7 from the newer suite; its .deb installs on bookworm.
        sources = root / "etc/apt/sources.list.d/edgelab-containerd.list"
        sources.write_text(f"deb {p.debian_mirror} {p.containerd_deb_suite} main\n")
        shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
        env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        with _Mounted(ctx, root):
            ctx.sh(["chroot", str(root), "apt-get", "update", "-qq"], env=env)
            ctx.sh(["chroot", str(root), "apt-get", "install", "-y", "-qq", "--no-install-recommends",
                    f"containerd/{p.containerd_deb_suite}"], env=env)
            sources.unlink()
            ctx.sh(["chroot", str(root), "apt-get", "clean"], env=env)
            spec = json.loads(ctx.sh(["chroot", str(root), "ctr", "oci", "spec"], env=env, capture=True))
        # kind's files/, placed as its Dockerfile places them
        files = kind / "files"
        _copy_into(files / "usr/local/bin", root / "usr/local/bin", 0o755)
        _copy_into(files / "kind", root / "kind", 0o644)
        _copy_into(files / "kind/bin", root / "kind/bin", 0o755)
        _copy_into(files / "etc", root / "etc", 0o644)
        for bin_name in ("containerd", "ctr", "containerd-shim-runc-v2"):
            link = root / "usr/local/bin" / bin_name
            link.unlink(missing_ok=True)
            link.symlink_to(f"/usr/bin/{bin_name}")
        (root / "opt/cni/bin").mkdir(parents=True, exist_ok=True)
        for plugin in (root / "usr/lib/cni").iterdir():
            shutil.copy2(plugin, root / "opt/cni/bin" / plugin.name)
        wrapper = root / "usr/local/bin/edgelab-runc"
        shutil.copy2(ctx.dep_path("runc-wrapper") / "edgelab-runc", wrapper)
        wrapper.chmod(0o755)
        config = (root / "etc/containerd/config.toml").read_text()
        config, n = re.subn(r"^(\s*)SystemdCgroup = true\n", r'\g<0>\1BinaryName = "/usr/local/bin/edgelab-runc"\n',
                           config, flags=re.M)
        if n != 2:
            raise ValueError("kind's containerd config changed shape: expected 2 runc runtimes")
        (root / "etc/containerd/config.toml").write_text(config)
        spec.setdefault("hooks", {}).setdefault("createContainer", []).append({"path": "/kind/bin/mount-product-files.sh"})
        spec["process"].pop("rlimits", None)
        (root / "etc/containerd/cri-base.json").write_text(json.dumps(spec, indent=2))
        # the Dockerfile's clean-up and service set-up
        for pattern in ("lib/systemd/system/multi-user.target.wants/*", "etc/systemd/system/*.wants/*",
                        "lib/systemd/system/local-fs.target.wants/*", "lib/systemd/system/sockets.target.wants/*udev*",
                        "lib/systemd/system/sockets.target.wants/*initctl*", "lib/systemd/system/basic.target.wants/*",
                        "lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service"):
            for f in root.glob(pattern):
                f.unlink()
        with (root / "etc/systemd/journald.conf").open("a") as journald:
            journald.write("ReadKMsg=no\n")
        ctx.sh(["chroot", str(root), "systemctl", "enable", "kubelet.service", "containerd.service",
                "undo-mount-hacks.service"], env=env)
        ctx.sh(["chroot", str(root), "systemctl", "mask", "systemd-binfmt.service"], env=env)
        (root / "etc/kubernetes/manifests").mkdir(parents=True, exist_ok=True)
        (root / "etc/resolv.conf").write_text("")
        slim_rootfs(root)
        staged = _self_ref(ctx) + "-import"
        import_tree(ctx, root, staged, ["ENV container=docker",
                                        'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]'])
        shutil.rmtree(root)
        # docker 20.10's import refuses STOPSIGNAL; a legacy build adds it.
        docker_build(ctx, f"FROM {staged}\nSTOPSIGNAL SIGRTMIN+3\n", {}, _self_ref(ctx))
        ctx.sh(["docker", "rmi", staged])

    return run


def _copy_into(src: Path, dst: Path, mode: int) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file():
            shutil.copyfile(f, dst / f.name)
            (dst / f.name).chmod(mode)
        elif f.is_dir() and f.name != "bin":
            _copy_into(f, dst / f.name, mode)
        elif f.is_dir():
            _copy_into(f, dst / f.name, 0o755 if mode == 0o755 else mode)


def net_image(binary_dep: str, binary: str, extra: Mapping[str, tuple[Path, str]], cmd: list[str]):
    """kube-proxy / kube-router: the netbase userland plus one binary and an iptables wrapper."""

    def run(ctx: StepContext) -> None:
        files: dict[str, Path] = {binary: ctx.dep_path(binary_dep) / binary, "iptables-wrapper": HACK / "images/iptables-wrapper"}
        lines = [f"FROM {ctx.dep('netbase')}", f"COPY {binary} /usr/local/bin/{binary}",
                 "COPY iptables-wrapper /usr/sbin/iptables-wrapper",
                 "RUN chmod 755 /usr/sbin/iptables-wrapper /usr/local/bin/" + binary + " && for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do ln -sf /usr/sbin/iptables-wrapper /usr/sbin/$t; done"]
        for name, (src, dest) in extra.items():
            files[name] = src
            lines.append(f"COPY {name} {dest}")
            lines.append(f"RUN chmod 755 {dest}")
        lines.append("ENTRYPOINT " + json.dumps(cmd))
        docker_build(ctx, "\n".join(lines) + "\n", files, _self_ref(ctx))

    return run


def python_base(p: Pins):
    """Debian's python3 plus our pinned wheels: the base of edgelab's own images."""

    def run(ctx: StepContext) -> None:
        root = debootstrap(ctx, p, PYTHON_PACKAGES)
        site = root / "usr/local/lib/python3.11/dist-packages"
        site.mkdir(parents=True, exist_ok=True)
        platforms = [f"--platform={pl}" for pl in wheel_platforms(native_arch())]  # this machine's architecture
        ctx.sh([sys_python(), "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(site),
                "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", *platforms,
                *p.python_image_packages])
        slim_rootfs(root)
        import_tree(ctx, root, _self_ref(ctx), ["ENV PYTHONUNBUFFERED=1 PATH=/usr/local/bin:/usr/bin:/bin",
                                                'CMD ["python3"]'])

    return run


def native_arch() -> str:
    return platform.machine().lower()


def wheel_platforms(arch: str) -> list[str]:
    """pip's `--platform` tags for Linux wheels of `arch` (x86_64/amd64, aarch64/arm64), newest glibc first."""
    a = {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)
    return [f"manylinux_2_36_{a}", f"manylinux_2_28_{a}", f"manylinux_2_17_{a}", f"manylinux2014_{a}"]


def sys_python() -> str:
    return sys.executable


def storage_manifest(kind_dir: Path, p: Pins) -> str:
    """kind's default storage manifest (a Go string constant), images substituted."""
    src = (kind_dir / "pkg/build/nodeimage/const_storage.go").read_text()
    # the closing backtick stands alone at the start of a line
    body = re.search(r"defaultStorageManifest = `(.*?)^`", src, re.S | re.M)
    if body is None:
        raise ValueError("kind's const_storage.go changed shape")
    text = body.group(1)
    text = text.replace("` + storageProvisionerImage + `", p.kind_storage_provisioner_image)
    return text.replace("` + storageHelperImage + `", p.kind_storage_helper_image)


# Inside a node container (no Python there): wait up to 30 s for containerd to answer, or to be gone.
CONTAINERD_UP = "for i in $(seq 1 60); do ctr info >/dev/null 2>&1 && exit 0; sleep 0.5; done; exit 1"
CONTAINERD_DOWN = "for i in $(seq 1 60); do pgrep -x containerd >/dev/null || exit 0; sleep 0.5; done; exit 1"


def node_image(p: Pins):
    """kind's node image: the base, the Kubernetes binaries, every image pre-loaded."""

    def run(ctx: StepContext) -> None:
        names = image_names(p)
        k8s = ctx.dep_path("kubernetes")
        wanted = ctx.sh([str(k8s / "kubeadm"), "config", "images", "list", "--kubernetes-version", p.kubernetes],
                        capture=True).split()
        missing = sorted(set(wanted) - set(names.values()))
        if missing:
            raise ValueError(f"kubeadm {p.kubernetes} asks for images the build does not make: {missing}")
        cid = ctx.sh(["docker", "run", "-d", "--privileged", "--entrypoint", "sleep", ctx.dep("node-base"),
                      "infinity"], capture=True).strip()
        try:
            for b in ("kubeadm", "kubelet", "kubectl"):
                ctx.sh(["docker", "cp", str(k8s / b), f"{cid}:/usr/bin/{b}"])
            ctx.sh(["docker", "cp", str(ctx.dep_path("crictl") / "crictl"), f"{cid}:/usr/local/bin/crictl"])
            (ctx.out / "version").write_text(p.kubernetes)
            (ctx.out / "default-storage.yaml").write_text(storage_manifest(kind_source(ctx, p), p))
            ctx.sh(["docker", "exec", cid, "mkdir", "-p", "/kind/manifests"])
            ctx.sh(["docker", "cp", str(ctx.out / "version"), f"{cid}:/kind/version"])
            ctx.sh(["docker", "cp", str(ctx.out / "default-storage.yaml"), f"{cid}:/kind/manifests/default-storage.yaml"])
            ctx.sh(["docker", "exec", cid, "sh", "-c", "chown root:root /usr/bin/kube* /usr/local/bin/crictl /kind/version /kind/manifests/*"])
            ctx.sh(["docker", "exec", "-d", cid, "containerd"])
            ctx.sh(["docker", "exec", cid, "sh", "-c", CONTAINERD_UP])
            for ref in sorted(set(names.values())):
                if not image_exists(ref):
                    raise ValueError(f"image {ref} is missing from Docker")
                ctx.log(f"$ docker save {ref} | ctr import")
                save = subprocess.Popen(["docker", "save", ref], stdout=subprocess.PIPE, stderr=ctx._log)
                imp = subprocess.run(
                    ["docker", "exec", "-i", cid, "ctr", "--namespace=k8s.io", "images", "import",
                     "--label=io.cri-containerd.pinned=pinned", "--all-platforms", "--no-unpack", "--digests", "-"],
                    stdin=save.stdout, stdout=ctx._log, stderr=ctx._log, check=False)
                assert save.stdout is not None
                save.stdout.close()
                if save.wait() != 0 or imp.returncode != 0:
                    raise RuntimeError(f"loading {ref} into the node image failed")
            listed = ctx.sh(["docker", "exec", cid, "ctr", "--namespace=k8s.io", "images", "list", "-q"], capture=True)
            absent = [r for r in names.values() if _normalise(r) not in listed.split()]
            if absent:
                raise RuntimeError(f"containerd in the node lacks {absent}")
            ctx.sh(["docker", "exec", cid, "pkill", "containerd"])
            ctx.sh(["docker", "exec", cid, "sh", "-c", CONTAINERD_DOWN])
            ctx.sh(["docker", "commit", "--change", 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]',
                    cid, _self_ref(ctx)])
        finally:
            subprocess.run(["docker", "rm", "-f", "-v", cid], capture_output=True, check=False)

    return run


def _normalise(ref: str) -> str:
    return ref if ref.split("/")[0].count(".") else "docker.io/" + ref


def kubectl_output(ctx: StepContext) -> None:
    """kubectl and kind side by side: what the CLI and tests put on PATH."""
    shutil.copy2(ctx.dep_path("kubernetes") / "kubectl", ctx.out / "kubectl")
    shutil.copy2(ctx.dep_path("kind") / "kind", ctx.out / "kind")


def all_steps(p: Pins) -> list[Step]:
    names = image_names(p)
    go = {"go": _go_version()}
    k8s_in = {"kubernetes": p.kubernetes, "staging": p.kubernetes_staging, "date": p.go_build_date, **go}
    deb = {"suite": p.debian_suite, "mirror": p.debian_mirror}
    nonroot = ["USER 65532:65532"]
    steps = [
        Step("runc-wrapper", "files", build_wrapper, go, files=(HACK / "runc-wrapper",), heavy=True),
        Step("kind", "files", go_install("sigs.k8s.io/kind", p.kind, "kind"), {"kind": p.kind, **go}, heavy=True),
        Step("kubernetes", "files", build_kubernetes(p), k8s_in, heavy=True),
        Step("etcd", "files", build_etcd(p), {"etcd": p.etcd, **go}, heavy=True),
        Step("coredns", "files", go_install("github.com/coredns/coredns", p.coredns, "coredns"), {"v": p.coredns, **go}, heavy=True),
        Step("metrics-server-bin", "files",
             go_install("sigs.k8s.io/metrics-server/cmd/metrics-server", p.metrics_server, "metrics-server"),
             {"v": p.metrics_server, **go}, heavy=True),
        Step("local-path-bin", "files",
             go_install("github.com/rancher/local-path-provisioner", p.local_path_provisioner, "local-path-provisioner"),
             {"v": p.local_path_provisioner, **go}, heavy=True),
        Step("kube-router-bin", "files",
             go_install("github.com/cloudnativelabs/kube-router/v2/cmd/kube-router", p.kube_router, "kube-router"),
             {"v": p.kube_router, **go}, heavy=True),
        Step("crictl", "files", go_install("sigs.k8s.io/cri-tools/cmd/crictl", p.cri_tools, "crictl"),
             {"v": p.cri_tools, **go}, heavy=True),
        Step("pause-bin", "files", build_pause(p), {"kubernetes": p.kubernetes, "pause": p.pause}),
        Step("busybox", "files", fetch_busybox, deb),
        Step("tools", "files", kubectl_output, deps=("kubernetes", "kind")),
        # images
        Step("node-base", "image", node_base(p), {**deb, "containerd": p.containerd_deb_suite, "kind": p.kind,
             "packages": NODE_BASE_PACKAGES}, deps=("runc-wrapper",)),
        Step("netbase", "image", debootstrap_image(p, NET_PACKAGES, []), {**deb, "packages": NET_PACKAGES}),
        Step("python-base", "image", python_base(p), {**deb, "packages": PYTHON_PACKAGES,
             "wheels": p.python_image_packages, "arch": native_arch()}, tags=(p.python_base_image,)),
    ]
    for comp in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        steps.append(Step(f"img-{comp}", "image", static_image({f"/usr/local/bin/{comp}": ("kubernetes", comp)}, []),
                          deps=("kubernetes",), tags=(names[comp],)))
    steps += [
        Step("img-etcd", "image", static_image({"/usr/local/bin/etcd": ("etcd", "etcd")}, []),
             deps=("etcd",), tags=(names["etcd"],)),
        Step("img-coredns", "image", static_image({"/coredns": ("coredns", "coredns")},
             ['ENTRYPOINT ["/coredns"]', *nonroot], cap="cap_net_bind_service=+ep"),
             deps=("coredns",), tags=(names["coredns"],)),
        Step("img-pause", "image", static_image({"/pause": ("pause-bin", "pause")}, ['ENTRYPOINT ["/pause"]', "USER 65535:65535"]),
             deps=("pause-bin",), tags=(names["pause"], names["pause-sandbox"])),
        Step("img-metrics-server", "image", static_image({"/metrics-server": ("metrics-server-bin", "metrics-server")},
             ['ENTRYPOINT ["/metrics-server"]', "USER 65534"]), deps=("metrics-server-bin",), tags=(names["metrics-server"],)),
        Step("img-local-path-provisioner", "image",
             static_image({"/usr/bin/local-path-provisioner": ("local-path-bin", "local-path-provisioner")},
                          ['ENTRYPOINT ["local-path-provisioner"]']),
             deps=("local-path-bin",), tags=(names["local-path-provisioner"],)),
        Step("img-local-path-helper", "image", busybox_image, deps=("busybox",), tags=(names["local-path-helper"],)),
        Step("img-kube-proxy", "image", net_image("kubernetes", "kube-proxy", {}, ["/usr/local/bin/kube-proxy"]),
             {"wrapper": _file_hash(HACK / "images/iptables-wrapper")}, deps=("netbase", "kubernetes"), tags=(names["kube-proxy"],)),
        Step("img-kube-router", "image",
             net_image("kube-router-bin", "kube-router",
                       {"cni-install": (HACK / "images/kube-router-cni-install", "/usr/local/bin/cni-install")},
                       ["/usr/local/bin/kube-router"]),
             {"wrapper": _file_hash(HACK / "images/iptables-wrapper"),
              "cni": _file_hash(HACK / "images/kube-router-cni-install")},
             deps=("netbase", "kube-router-bin"), tags=(names["kube-router"],)),
    ]
    steps.append(Step("edge-app", "image", edge_app_image, deps=("python-base",), files=(EDGEAPP,),
                      tags=tuple(store_image_names())))
    steps.append(Step("fault-operator", "image", fault_operator_image, deps=("python-base",), files=(OPERATOR, OPERATOR_BIN),
                      tags=(p.fault_operator_image,)))
    image_steps = [s.name for s in steps if s.name.startswith("img-")]
    steps.append(Step("node-image", "image", node_image(p), {"kubernetes": p.kubernetes, "kind": p.kind},
                      deps=("node-base", "kubernetes", "crictl", *image_steps), tags=(p.offline_node_image,)))
    return steps


EDGEAPP = REPO / "harness" / "edgelab" / "edgeapp"
OPERATOR = REPO / "operator" / "edgelab_operator"
OPERATOR_BIN = REPO / "operator" / "bin"  # the image's entry points: fleet-agent, node-agent



def edge_app_image(ctx: StepContext) -> None:
    """One small image of ours plays every service of the store."""
    dockerfile = (f"FROM {ctx.dep('python-base')}\nCOPY edgeapp /app/edgeapp\n"
                  'ENV PYTHONPATH=/app\nCMD ["python3", "-m", "edgeapp"]\n')
    docker_build(ctx, dockerfile, {"edgeapp": EDGEAPP}, _self_ref(ctx))


def fault_operator_image(ctx: StepContext) -> None:
    """The fault operator (kopf; kopf and the kubernetes client are in python-base) and its node agent."""
    dockerfile = (f"FROM {ctx.dep('python-base')}\nCOPY edgelab_operator /app/edgelab_operator\n"
                  'COPY bin /usr/local/bin/\nENV PYTHONPATH=/app PYTHONUNBUFFERED=1\nCMD ["fleet-agent"]\n')
    docker_build(ctx, dockerfile, {"edgelab_operator": OPERATOR, "bin": OPERATOR_BIN}, _self_ref(ctx))


def busybox_image(ctx: StepContext) -> None:
    root = static_tree(ctx)
    (root / "bin").mkdir()
    shutil.copy2(ctx.dep_path("busybox") / "busybox", root / "bin/busybox")
    applets = ctx.sh([str(root / "bin/busybox"), "--list"], capture=True).split()
    for applet in applets:
        link = root / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    import_tree(ctx, root, _self_ref(ctx), ["ENV PATH=/bin", 'CMD ["sh"]'])


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"


def _go_version() -> str:
    try:
        return subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=False).stdout.strip()
    except FileNotFoundError:
        return "none"


__all__ = ["all_steps", "image_names", "K8S_BINARIES", "os"]

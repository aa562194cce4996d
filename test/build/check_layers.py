#!/usr/bin/env python3
"""check_layers.py BUILD_DIR - prove that the build enforces the layering.

For each layer, take the exact command the build uses to compile one of
its sources (compile_commands.json), swap the source for a one-line probe
that includes a header, and compile it:

  - a header the layer may use must compile (so the check can fail);
  - a header of a layer above it, or of a sibling it must not see, must
    NOT compile ("No such file or directory").

A layer that gains an include path it should not have fails this test.
"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

# layer: (a source of the layer, headers it may include, headers it must not see)
LAYERS = {
    "base": ("lib/base/log.c", ["dl_log.h", "dl_coreset.h"],
             ["dl_hal.h", "dl_stack.h", "dl_noc.h", "dl_engine.h"]),
    "hal": ("lib/hal/region.c", ["dl_hal.h", "dl_platform.h", "dl_stats.h"],
            ["dl_stack.h", "dl_noc.h", "dl_msg.h", "dl_engine.h", "dl_runtime.h",
             "rte_mbuf.h"]),
    "noc": ("noc/noc.c", ["dl_noc.h", "dl_msg.h", "dl_hal.h"],
            ["dl_stack.h", "dl_tcp.h", "dl_engine.h", "dl_runtime.h", "rte_ring.h"]),
    # The UDN transport (TILE-Gx builds): its files alone see the MDE's
    # tmc/udn.h; the endpoint's header (dl_noc.h) works without it.
    "noc-udn": ("noc/udn/udn.c", ["dl_tp.h", "udn_priv.h", "dl_noc.h", "tmc/udn.h"],
                ["dl_stack.h", "dl_tcp.h", "dl_engine.h", "dl_runtime.h", "mde_model.h",
                 "model_priv.h"]),
    "stack": ("stack/tcp_in.c", ["dl_tcp.h", "dl_hal.h", "dl_stats.h"],
              ["dl_engine.h", "dl_engine_priv.h", "dl_noc.h", "dl_msg.h", "dl_runtime.h",
               "dl_config.h", "rte_mbuf.h", "dlibos/dlibos.h", "tmc/udn.h"]),
    "engine": ("lib/engine/engine.c", ["dl_engine.h", "dl_stack.h", "dl_noc.h",
                                       "dlibos/dlibos.h"],
               ["dl_runtime.h", "dl_config.h", "dl_policy.h", "dl_service.h", "dl_ctl.h",
                "dl_attach.h", "rte_mbuf.h", "dl_memwire.h", "tmc/udn.h", "gxio/mpipe.h"]),
    "runtime": ("lib/runtime/runtime.c", ["dl_runtime.h", "dl_engine.h", "dl_platform.h"],
                ["dl_service.h", "dl_attach.h", "dl_policy.h", "dl_ctl.h", "rte_ethdev.h",
                 "dl_memwire.h"]),
    "protected": ("lib/protected/service.c", ["dl_service.h", "dl_runtime.h", "dl_engine.h"],
                  ["rte_ethdev.h", "dl_memwire.h", "dl_dpdk.h"]),
    "memwire": ("drivers/memwire/memwire.c", ["dl_memwire.h", "dl_hal.h", "dl_offload.h"],
                ["dl_stack.h", "dl_tcp.h", "dl_stack_priv.h", "dl_noc.h", "dl_engine.h",
                 "dl_runtime.h"]),
    "dpdk": ("drivers/dpdk/nic.c", ["dl_dpdk.h", "dl_platform.h", "rte_ethdev.h"],
             ["dl_stack.h", "dl_tcp.h", "dl_noc.h", "dl_engine.h", "dl_runtime.h"]),
    "tilegx": ("drivers/tilegx/nic.c", ["dl_tilegx.h", "dl_platform.h", "gxio/mpipe.h",
                                        "tmc/cpus.h"],
               ["dl_stack.h", "dl_tcp.h", "dl_noc.h", "dl_engine.h", "dl_runtime.h",
                "rte_ethdev.h", "mde_model.h", "model_priv.h"]),
}
# Layers a build may leave out (the other target's driver and transport).
OPTIONAL = {"dpdk", "tilegx", "noc-udn"}


def command_for(db, src):
    for e in db:
        if os.path.normpath(os.path.join(e["directory"], e["file"])).endswith(src) and \
                "libdlibos" not in e.get("output", e["command"]):
            return e
    return None


def compile_probe(entry, header, tmp):
    probe = os.path.join(tmp, "probe.c")
    with open(probe, "w") as f:
        f.write('#include "%s"\nint dl_layer_probe(void);\nint dl_layer_probe(void) '
                '{ return 0; }\n' % header)
    args = shlex.split(entry["command"])
    out, skip = [], False
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a in ("-o", "-MF", "-MQ", "-MT"):
            skip = True
            continue
        if a in ("-MD", "-MMD", "-c") or a == entry["file"]:
            continue
        out.append(a)
    out += ["-c", probe, "-o", os.path.join(tmp, "probe.o")]
    r = subprocess.run(out, cwd=entry["directory"], capture_output=True, text=True)
    return r.returncode, re.sub(r"\x1b\[[0-9;]*[mK]", "", r.stderr)  # no colours


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    with open(os.path.join(build, "compile_commands.json")) as f:
        db = json.load(f)
    failures = 0
    checked = 0
    with tempfile.TemporaryDirectory() as tmp:
        for layer, (src, allowed, forbidden) in LAYERS.items():
            entry = command_for(db, src)
            if entry is None:
                if layer in OPTIONAL:
                    print("skip %-9s (not in this build)" % layer)
                    continue
                print("FAIL %-9s no compile command for %s" % (layer, src))
                failures += 1
                continue
            for h in allowed:
                rc, err = compile_probe(entry, h, tmp)
                checked += 1
                if rc != 0:
                    print("FAIL %-9s cannot include %s, which it may use:\n%s" % (layer, h, err))
                    failures += 1
            for h in forbidden:
                rc, err = compile_probe(entry, h, tmp)
                checked += 1
                if rc == 0:
                    print("FAIL %-9s can include %s (a layer it must not see)" % (layer, h))
                    failures += 1
                elif not any(line.startswith(os.path.join(tmp, "probe.c") + ":1:") and
                             ("'%s' file not found" % h in line or
                              "%s: No such file" % h in line)
                             for line in err.splitlines()):
                    # The header was found, and failed further in.
                    print("FAIL %-9s can reach %s (it failed further in):\n%s" %
                          (layer, h, err))
                    failures += 1
    print("%d include checks, %d failure(s)" % (checked, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/bin/sh
# run-step.sh -- whole training steps, crease against PyTorch on the CPU, for
# each thread count, in one go; prints both tables and the ratio table.
#
#   sh /path/to/bench/run-step.sh [--threads "1 2"] [--time 1] [--bench PATH]
#                                 [--nets LIST] [--batches LIST] [--python PY]
#                                 [--rounds N]
#
# Run it from the build directory after `make bench` (it looks for
# bench/bench_step there; --bench or $BENCH_STEP names another).  PyTorch is
# optional: without it only the crease table is printed.
# ratio = PyTorch ms/step / crease ms/step (above 1: crease is faster).
# --rounds N repeats the whole measurement N times (crease and PyTorch
# alternating) and keeps the best time of each cell.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
threads="1 2"
budget=1
bench=${BENCH_STEP:-bench/bench_step}
nets=2-32-32-32-32-2,2-512-2
batches=256,1024,8192
python=${PYTHON:-python3}
rounds=1

while [ $# -gt 0 ]; do
    case $1 in
    --threads) threads=$2; shift 2 ;;
    --time) budget=$2; shift 2 ;;
    --bench) bench=$2; shift 2 ;;
    --nets) nets=$2; shift 2 ;;
    --batches) batches=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "run-step.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ ! -x "$bench" ]; then
    echo "run-step.sh: $bench not found: run 'make bench' in the build directory and run this from there, or pass --bench PATH" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

have_torch=yes
if ! "$python" -c 'import torch' >/dev/null 2>&1; then
    have_torch=no
    echo "run-step.sh: PyTorch not importable by $python (pip install torch); crease only." >&2
fi

echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine: $(nproc) CPUs, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)"
echo "crease:  $("$bench" --info)"
if [ $have_torch = yes ]; then
    echo "PyTorch: $("$python" -W ignore -c 'import torch; print(torch.__version__, "CPU capability", torch.backends.cpu.get_cpu_capability())')"
fi
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?') (1, 5, 15 min)"
echo

r=0
while [ $r -lt "$rounds" ]; do
r=$((r + 1))
[ "$rounds" -gt 1 ] && echo "run-step.sh: round $r of $rounds" >&2
for t in $threads; do
    "$bench" --threads "$t" --nets "$nets" --batches "$batches" --time "$budget" --tsv >>"$tmp/crease.tsv"
    if [ $have_torch = yes ]; then
        "$python" "$here/torch_step.py" --threads "$t" --nets "$nets" --batches "$batches" \
            --time "$budget" --tsv >>"$tmp/torch.tsv"
        # With several threads, PyTorch's OpenMP barriers spin on a thread
        # that the scheduler may have taken off its core; on a busy machine
        # OMP_WAIT_POLICY=PASSIVE is much faster, so it is tried as well
        # and the faster is kept.
        if [ "$t" -gt 1 ] && [ -z "${OMP_WAIT_POLICY:-}" ]; then
            OMP_WAIT_POLICY=PASSIVE "$python" "$here/torch_step.py" --threads "$t" --nets "$nets" \
                --batches "$batches" --time "$budget" --tsv >>"$tmp/torch.tsv"
        fi
    fi
done
done

[ $have_torch = yes ] || : >"$tmp/torch.tsv"
awk -F'\t' -v have_torch=$have_torch -v rounds="$rounds" '
    FNR == NR {
        key = $2 SUBSEP $3 SUBSEP $4
        if (!(key in ct)) { ct[key] = $5; order[++n] = key } else if ($5 + 0 < ct[key] + 0) ct[key] = $5
        next
    }
    {
        key = $2 SUBSEP $3 SUBSEP $4
        if (!(key in pt) || $5 + 0 < pt[key] + 0) { pt[key] = $5; impl[key] = $6 }
    }
    END {
        printf "| %-16s | %6s | %7s | %13s | %14s | %-15s | %8s |\n", "net", "batch", "threads",
               "crease ms", "PyTorch ms", "PyTorch variant", "speedup"
        printf "|------------------|--------|---------|---------------|----------------|-----------------|----------|\n"
        for (i = 1; i <= n; i++) {
            k = order[i]; split(k, f, SUBSEP)
            if (k in pt)
                printf "| %-16s | %6d | %7d | %13.4f | %14.4f | %-15s | %7.2fx |\n", f[1], f[2], f[3],
                       ct[k], pt[k], impl[k], pt[k] / ct[k]
            else
                printf "| %-16s | %6d | %7d | %13.4f | %14s | %-15s | %8s |\n", f[1], f[2], f[3],
                       ct[k], "-", "-", "-"
        }
        print ""
        if (rounds > 1) print "best of " rounds " rounds."
        print "ms = best time per step (gather batch, forward, cross-entropy, backward, Adam);"
        print "speedup = PyTorch ms / crease ms (above 1: crease is faster)."
        print "PyTorch variant = the fastest Adam implementation (+passive: OMP_WAIT_POLICY=PASSIVE)."
        if (have_torch != "yes") print "PyTorch was not available: no comparison."
    }' "$tmp/crease.tsv" "$tmp/torch.tsv"

# Sourced by the ablation scripts, which set store, out and cv_options (options every variant gets):
# `run NAME [cv options]` runs `equinet cv` into OUT/cv-NAME (a finished variant is kept, an interrupted one
# resumed with --resume) and prints its summary line.
run() {
  local name=$1 dir="$out/cv-$1"; shift
  if [ ! -f "$dir/cv.json" ]; then
    local again=(); [ -d "$dir" ] && again=(--resume)
    ${EQUINET:-equinet} cv --data "$store" --out "$out" --name "$name" "${again[@]}" "${cv_options[@]}" "$@" > /dev/null
  fi
  python3 "$(dirname "${BASH_SOURCE[0]}")/cv_summary.py" "$dir/cv.json"
}

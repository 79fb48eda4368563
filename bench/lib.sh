# shellcheck shell=bash
# bench/lib.sh - helpers shared by the benchmark scripts (sourced, not run).

# md_table ALIGN < TSV: an aligned markdown table; ALIGN has one l/r per column.
md_table() {
  awk -F'\t' -v align="$1" '
    { for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } ; if (NF > nf) nf = NF }
    END {
      for (r = 1; r <= NR; r++) {
        line = "|"
        for (i = 1; i <= nf; i++) {
          a = substr(align, i, 1)
          line = line " " sprintf(a == "r" && r > 1 ? "%" w[i] "s" : "%-" w[i] "s", cell[r, i]) " |"
        }
        print line
        if (r == 1) {
          line = "|"
          for (i = 1; i <= nf; i++) {
            d = ""; for (j = 0; j < w[i]; j++) d = d "-"
            if (substr(align, i, 1) == "r") d = substr(d, 2) ":"
            line = line " " d " |"
          }
          print line
        }
      }
    }'
}

# cpu_model: this machine's CPU model name, or nothing.
cpu_model() {
  local m
  m=$(awk -F': *' '/^model name/{print $2; exit}' /proc/cpuinfo)
  [[ -n $m ]] || m=$(awk -F': *' '/^(Hardware|cpu model|Processor)/{print $2; exit}' /proc/cpuinfo)
  printf '%s' "$m"
}

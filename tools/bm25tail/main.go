// Command bm25tail times BM25 queries one at a time on an existing index
// (as `bench scale --bm25-only --reuse` leaves in DIR/bm25) and writes a
// CPU profile: the tool behind issue 15's tail work. Each query runs
// --reps times, round robin over the set; per query the median wall and
// process CPU time are kept, and the slowest queries are listed.
//
//	go run ./tools/bm25tail --index /tmp/t15/d1m/bm25 --queries data/scifact --n 1000 --reps 3 --cpuprofile cpu.prof
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/index/bm25"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func pct(x []float64, p float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func main() {
	dir := flag.String("index", "", "BM25 index folder")
	qf := flag.String("queries", "data/scifact", "BEIR queries.jsonl or its folder")
	n := flag.Int("n", 1000, "first n queries")
	reps := flag.Int("reps", 3, "runs of the query set")
	k := flag.Int("k", 10, "results per query")
	prof := flag.String("cpuprofile", "", "write a CPU profile of the timed runs")
	mprof := flag.String("memprofile", "", "write an allocation profile (every allocation of the timed runs sampled)")
	slow := flag.Int("slow", 10, "slowest queries listed")
	only := flag.String("only", "", "time only this query text")
	list := flag.String("list", "", "time the queries of this file (one a line) instead")
	dump := flag.Int("dump-slowest", 0, "print the texts of this many slowest queries (by CPU), one a line, and nothing else")
	flag.Parse()
	path := *qf
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		if path, err = beir.FindFile(path, "queries.jsonl"); err != nil {
			log.Fatal(err)
		}
	}
	qs, err := beir.ReadQueries(path)
	if err != nil {
		log.Fatal(err)
	}
	var texts []string
	for _, q := range qs[:min(*n, len(qs))] {
		texts = append(texts, q.Text)
	}
	if *only != "" {
		texts = []string{*only}
	}
	if *list != "" {
		raw, err := os.ReadFile(*list)
		if err != nil {
			log.Fatal(err)
		}
		texts = strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	}
	ix, err := bm25.Open(*dir)
	if err != nil {
		log.Fatal(err)
	}
	defer ix.Close()
	ctx := context.Background()
	if _, err := ix.Search(ctx, "warm", 1); err != nil {
		log.Fatal(err)
	}
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if *mprof != "" {
		runtime.MemProfileRate = 4096 // from here on
		defer func() {
			f, err := os.Create(*mprof)
			if err != nil {
				log.Fatal(err)
			}
			runtime.GC()
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}()
	}
	wall := make([][]float64, len(texts))
	cpu := make([][]float64, len(texts))
	for r := 0; r < *reps; r++ {
		for i, q := range texts {
			c0, t0 := cpuNow(), time.Now()
			if _, err := ix.Search(ctx, q, *k); err != nil {
				log.Fatal(err)
			}
			wall[i] = append(wall[i], float64(time.Since(t0).Microseconds())/1e3)
			cpu[i] = append(cpu[i], float64(cpuNow()-c0)/1e6)
		}
	}
	w := make([]float64, len(texts))
	c := make([]float64, len(texts))
	var wm, cm float64
	for i := range texts {
		w[i], c[i] = pct(wall[i], 0.5), pct(cpu[i], 0.5)
		wm += w[i] / float64(len(texts))
		cm += c[i] / float64(len(texts))
	}
	if *dump > 0 {
		order := make([]int, len(texts))
		for i := range order {
			order[i] = i
		}
		sort.Slice(order, func(a, b int) bool { return c[order[a]] > c[order[b]] })
		for _, i := range order[:min(*dump, len(order))] {
			fmt.Println(texts[i])
		}
		return
	}
	fmt.Printf("queries %d reps %d: wall p50 %.2f p99 %.2f max %.2f mean %.2f ms; cpu mean %.2f p99 %.2f ms\n",
		len(texts), *reps, pct(w, 0.5), pct(w, 0.99), pct(w, 1), wm, cm, pct(c, 0.99))
	order := make([]int, len(texts))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return w[order[a]] > w[order[b]] })
	for _, i := range order[:min(*slow, len(order))] {
		fmt.Printf("  %7.2f ms wall %7.2f ms cpu  %.110s\n", w[i], c[i], texts[i])
	}
}

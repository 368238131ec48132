package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/contriever-go/contriever/beir"
)

func init() {
	register(command{name: "eval", summary: "evaluate a TREC run file against qrels (trec_eval semantics)", run: runEval})
}

func runEval(args []string) error {
	fs := newFlagSet("eval", "--qrels FILE --run FILE [--json] [--metrics LIST]")
	qrelsPath := fs.String("qrels", "", "qrels file: BEIR TSV (query-id corpus-id score) or TREC (qid iter docid rel), plain or .gz")
	runPath := fs.String("run", "", "TREC run file (qid Q0 docid rank score tag), plain or .gz")
	asJSON := fs.Bool("json", false, "print one JSON object (fractions) instead of a table")
	metricList := fs.String("metrics", "", "comma-separated metrics, e.g. ndcg@10,recall@100,map@100,mrr@10,p@10 (default those five)")
	keepSelf := fs.Bool("keep-self-hits", false, "keep hits whose doc id equals the query id (removed by default, as BEIR and Pyserini)")
	intersection := evalIntersectionFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *qrelsPath == "" || *runPath == "" {
		fs.Usage()
		return fmt.Errorf("--qrels and --run are required")
	}
	metrics, err := evalParseMetrics(*metricList)
	if err != nil {
		return err
	}
	qrels, err := beir.ReadQrels(*qrelsPath)
	if err != nil {
		return err
	}
	run, err := beir.ReadRun(*runPath)
	if err != nil {
		return err
	}
	res := beir.Evaluate(qrels, run, metrics, beir.EvalOptions{KeepSelfHits: *keepSelf, Intersection: *intersection})
	if *asJSON {
		out := evalJSON(res)
		out["qrels"] = *qrelsPath
		out["run"] = *runPath
		return evalWriteJSON(os.Stdout, out)
	}
	fmt.Printf("run %s against %s: %d queries evaluated (%s; run has %d, qrels %d), %s\n\n",
		*runPath, *qrelsPath, res.Queries, evalAveraging(*intersection), len(run), len(qrels), evalNoHits(res))
	return evalPrintTable(os.Stdout, res)
}

// evalIntersectionFlag defines --intersection, shared by eval and beir.
func evalIntersectionFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("intersection", false, "average over the queries in both the run and the qrels (trec_eval without -c); by default every judged query counts, one with no hits scoring 0 (trec_eval -c, as Pyserini)")
}

// evalAveraging names the averaging rule for people.
func evalAveraging(intersection bool) string {
	if intersection {
		return "queries in both run and qrels"
	}
	return "all judged queries, trec_eval -c"
}

// evalNoHits says how many averaged queries had no hits.
func evalNoHits(res *beir.Result) string {
	return fmt.Sprintf("%d judged with no hits (scored 0)", res.NoHits)
}

// parseMetrics parses a comma-separated metric list; empty means
// beir.DefaultMetrics.
func evalParseMetrics(list string) ([]beir.Metric, error) {
	if strings.TrimSpace(list) == "" {
		return beir.DefaultMetrics, nil
	}
	var ms []beir.Metric
	for _, s := range strings.Split(list, ",") {
		m, err := beir.ParseMetric(s)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// metricDisplay is a metric's name for people: nDCG@10, Recall@100, ...
func evalMetricName(m beir.Metric) string {
	names := map[beir.Measure]string{beir.NDCG: "nDCG", beir.Recall: "Recall", beir.MAP: "MAP", beir.Precision: "P", beir.MRR: "MRR"}
	return fmt.Sprintf("%s@%d", names[m.Measure], m.K)
}

// printMetrics writes an aligned table of the means, as fractions and ×100.
func evalPrintTable(w io.Writer, res *beir.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "metric\tfraction\t×100\t\n")
	for i, m := range res.Metrics {
		fmt.Fprintf(tw, "%s\t%.4f\t%.2f\t\n", evalMetricName(m), res.Mean[i], 100*res.Mean[i])
	}
	return tw.Flush()
}

// metricsJSON returns the means keyed "ndcg@10", ... (fractions) plus
// "queries".
func evalJSON(res *beir.Result) map[string]any {
	out := make(map[string]any, len(res.Metrics)+1)
	for i, m := range res.Metrics {
		out[m.String()] = res.Mean[i]
	}
	out["queries"] = res.Queries
	out["no_hits"] = res.NoHits
	return out
}

func evalWriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

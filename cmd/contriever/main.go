// Command contriever is the single CLI of the project: BEIR benchmarks,
// evaluation of run files, tokenisation, embedding, indexing, training,
// mining and the REST service. Each subcommand lives in its own file and
// registers itself with register.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
)

// command is one subcommand of the CLI.
type command struct {
	name    string
	summary string
	// run parses args (without the subcommand name) and does the work.
	run func(args []string) error
}

var commands = map[string]command{}

// benches are the sub-benchmarks of `contriever bench` (gemm, index,
// encoder, train, ...), registered like commands.
var benches = map[string]command{}

// registerBench adds a `contriever bench <name>` benchmark.
func registerBench(c command) {
	if _, dup := benches[c.name]; dup {
		panic("contriever: duplicate benchmark " + c.name)
	}
	benches[c.name] = c
}

func init() {
	register(command{name: "bench", summary: "measure speed: bench gemm|index|encoder|train ...", run: runBench})
}

func runBench(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(os.Stderr, "usage: contriever bench <name> [flags]\n\nbenchmarks:\n")
		for _, n := range sortedNames(benches) {
			fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, benches[n].summary)
		}
		if len(args) == 0 {
			return errors.New("missing benchmark name")
		}
		return nil
	}
	b, ok := benches[args[0]]
	if !ok {
		return fmt.Errorf("unknown benchmark %q", args[0])
	}
	return b.run(args[1:])
}

func sortedNames(m map[string]command) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// register adds a subcommand; it is called from init functions.
func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("contriever: duplicate subcommand " + c.name)
	}
	commands[c.name] = c
}

// newFlagSet returns a FlagSet whose --help prints the subcommand's usage.
func newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: contriever %s %s\n\nflags:\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

func usage() {
	fmt.Fprintf(os.Stderr, "contriever: unsupervised dense retrieval in Go\n\nusage: contriever <command> [flags]\n\ncommands:\n")
	for _, n := range sortedNames(commands) {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'contriever <command> --help' for the flags of a command.\n")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "contriever: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err := c.run(os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintf(os.Stderr, "contriever %s: %v\n", c.name, err)
		os.Exit(1)
	}
}

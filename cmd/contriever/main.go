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
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
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

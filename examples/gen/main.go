// Command gen writes the sample requests of package examples as JSON
// lines: "go run ./examples/gen -o examples/requests.jsonl", or
// "go generate ./examples". The output is the same on every run.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/claybridge/claybridge/examples"
)

func main() {
	out := flag.String("o", "requests.jsonl", "output `file`; - for standard output")
	flag.Parse()
	if err := write(*out); err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(1)
	}
}

func write(path string) error {
	f := os.Stdout
	if path != "-" {
		var err error
		if f, err = os.Create(path); err != nil {
			return err
		}
	}
	w := bufio.NewWriter(f)
	if err := examples.Write(w, examples.Generate()); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if f == os.Stdout {
		return nil
	}
	return f.Close()
}

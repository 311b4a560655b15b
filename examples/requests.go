// Package examples holds sample Clay requests for demos and tests:
// requests.jsonl, one request a line, made by Generate. Run
// "go generate ./examples" after changing the generator; a test fails
// while the file and the generator disagree.
package examples

//go:generate go run ./gen -o requests.jsonl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/claybridge/claybridge/subjects"
)

// Expectations other than a DLQ error class.
const (
	// ExpectResult marks a request that ends in a result.
	ExpectResult = "result"
	// ExpectDuplicate marks a request whose Nats-Msg-Id repeats an earlier
	// line's, so the request stream drops it.
	ExpectDuplicate = "duplicate"
)

// Request is one line of requests.jsonl.
type Request struct {
	Priority  subjects.Priority  `json:"priority"`
	Operation subjects.Operation `json:"operation"`
	// ID is the Nats-Msg-Id; empty for a keyless request.
	ID string `json:"id,omitempty"`
	// Body is the request body when it is JSON.
	Body json.RawMessage `json:"body,omitempty"`
	// RawBody is the request body when it is not JSON.
	RawBody string `json:"raw_body,omitempty"`
	// Expect is ExpectResult, ExpectDuplicate or the DLQ error class the
	// request ends with.
	Expect string `json:"expect"`
	// Note explains what is wrong with an invalid or duplicate request.
	Note string `json:"note,omitempty"`
}

// Payload returns the bytes to publish.
func (r Request) Payload() []byte {
	if r.Body != nil {
		return r.Body
	}
	return []byte(r.RawBody)
}

func (r Request) validate() error {
	if _, err := subjects.ParsePriority(string(r.Priority)); err != nil {
		return err
	}
	if _, err := subjects.ParseOperation(string(r.Operation)); err != nil {
		return err
	}
	if (r.Body == nil) == (r.RawBody == "") {
		return fmt.Errorf("set one of body and raw_body")
	}
	valid := []string{ExpectResult, ExpectDuplicate}
	for _, class := range subjects.ErrorClasses {
		valid = append(valid, string(class))
	}
	if !slices.Contains(valid, r.Expect) {
		return fmt.Errorf("invalid expect %q: use result, duplicate or an error class", r.Expect)
	}
	return nil
}

// Read reads requests, one JSON object a line.
func Read(r io.Reader) ([]Request, error) {
	var reqs []Request
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 0, 64*1024), 4*subjects.MaxClayBody)
	for line := 1; scanner.Scan(); line++ {
		if len(bytes.TrimSpace(scanner.Bytes())) == 0 {
			continue
		}
		var req Request
		if err := json.Unmarshal(scanner.Bytes(), &req); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if err := req.validate(); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		reqs = append(reqs, req)
	}
	return reqs, scanner.Err()
}

// ReadFile reads the requests in the file at path.
func ReadFile(path string) ([]Request, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	reqs, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return reqs, nil
}

// Write writes requests, one JSON object a line.
func Write(w io.Writer, reqs []Request) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, req := range reqs {
		if err := enc.Encode(req); err != nil {
			return err
		}
	}
	return nil
}

package subjects

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/gowebpki/jcs"
)

// MaxClayBody is the largest request body Clay accepts, in bytes.
const MaxClayBody = 100 * 1024

// ErrInvalidRequest is wrapped by every validation error.
var ErrInvalidRequest = errors.New("invalid request")

// RowParams are the parameters of a row request.
type RowParams struct {
	// Table is the configured name of the Clay table.
	Table string `json:"table"`
	// Row is the row's columns.
	Row map[string]any `json:"row"`
}

// RoutineParams are the parameters of a routine request.
type RoutineParams struct {
	// RoutineID is Clay's id of the routine.
	RoutineID string `json:"routine_id"`
	// Inputs are the routine's inputs for this item.
	Inputs map[string]any `json:"inputs"`
}

// SearchParams are the parameters of a search request.
type SearchParams struct {
	// SourceType is "people" or "companies".
	SourceType string `json:"source_type"`
	// Filters are passed to Clay as they are.
	Filters map[string]any `json:"filters"`
	// Limit is the number of results wanted, 1 to 500.
	Limit int `json:"limit"`
}

// Search source types and limits.
const (
	SourcePeople    = "people"
	SourceCompanies = "companies"
	MaxSearchLimit  = 500
)

// Request is a decoded, validated request.
type Request struct {
	// Key is the idempotency key: Nats-Msg-Id, or derived from the body.
	Key string
	// Keyless is true when the publisher set no Nats-Msg-Id.
	Keyless   bool
	Priority  Priority
	Operation Operation
	// Body is the request body exactly as published.
	Body    []byte
	Row     *RowParams
	Routine *RoutineParams
	Search  *SearchParams
}

// Params returns the operation's parameters.
func (r *Request) Params() any {
	switch r.Operation {
	case Row:
		return r.Row
	case Routine:
		return r.Routine
	default:
		return r.Search
	}
}

// DecodeParams parses and validates an operation's JSON parameters.
// Unknown fields are rejected, so a typo does not pass silently.
func DecodeParams(op Operation, body []byte) (*Request, error) {
	req := &Request{Operation: op, Body: body}
	var err error
	switch op {
	case Row:
		req.Row = &RowParams{}
		err = decodeStrict(body, req.Row)
		if err == nil {
			err = req.Row.validate()
		}
	case Routine:
		req.Routine = &RoutineParams{}
		err = decodeStrict(body, req.Routine)
		if err == nil {
			err = req.Routine.validate()
		}
	case Search:
		req.Search = &SearchParams{}
		err = decodeStrict(body, req.Search)
		if err == nil {
			err = req.Search.validate()
		}
	default:
		err = fmt.Errorf("unknown operation %q", op)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidRequest, op, err)
	}
	return req, nil
}

func decodeStrict(body []byte, v any) error {
	if !json.Valid(body) {
		return errors.New("body is not valid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode body: %v", err)
	}
	return nil
}

func (p *RowParams) validate() error {
	if p.Table == "" {
		return errors.New(`missing "table"`)
	}
	if p.Row == nil {
		return errors.New(`missing "row" object`)
	}
	if _, ok := p.Row[RowKeyColumn]; ok {
		return fmt.Errorf("row must not set %q: claybridge sets it to the request key", RowKeyColumn)
	}
	for _, column := range []string{RowCallbackURLColumn, RowCallbackTokenColumn} {
		if _, ok := p.Row[column]; ok {
			return fmt.Errorf("row must not set %q: claybridge sets it for tables that call back", column)
		}
	}
	return nil
}

func (p *RoutineParams) validate() error {
	if p.RoutineID == "" {
		return errors.New(`missing "routine_id"`)
	}
	if p.Inputs == nil {
		return errors.New(`missing "inputs" object`)
	}
	return nil
}

func (p *SearchParams) validate() error {
	if p.SourceType != SourcePeople && p.SourceType != SourceCompanies {
		return fmt.Errorf(`invalid "source_type" %q: use %q or %q`, p.SourceType, SourcePeople, SourceCompanies)
	}
	if p.Filters == nil {
		return errors.New(`missing "filters" object`)
	}
	if p.Limit < 1 || p.Limit > MaxSearchLimit {
		return fmt.Errorf(`invalid "limit" %d: use 1 to %d`, p.Limit, MaxSearchLimit)
	}
	return nil
}

// RowKeyColumn is the column each pushed row carries with its request key,
// so a Clay table can auto-dedupe on it.
const RowKeyColumn = "claybridge_key"

// DerivedKey returns the key of a request published without Nats-Msg-Id:
// the hex SHA-256 of the operation and the body in canonical JSON (RFC
// 8785). A body that is not JSON is hashed as it is.
func DerivedKey(op Operation, body []byte) string {
	canonical, err := jcs.Transform(body)
	if err != nil {
		canonical = body
	}
	sum := sha256.New()
	sum.Write([]byte(op))
	sum.Write([]byte{0})
	sum.Write(canonical)
	return hex.EncodeToString(sum.Sum(nil))
}

// SequenceKey returns the key of a keyless search: it names the request's
// stream sequence, so a redelivery keeps its key while two identical
// searches still get a result each.
func SequenceKey(seq uint64) string {
	return StreamRequests + "-" + strconv.FormatUint(seq, 10)
}

// HashKey returns the hex SHA-256 of a request key, the form used in KV
// keys and subjects.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

package claysim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// rowKeyField is the row field that carries claybridge's request key.
const rowKeyField = "claybridge_key"

// webhookAuthHeader carries the token of a webhook source.
const webhookAuthHeader = "x-clay-webhook-auth"

// handleRows serves POST /v3/sources/webhook/{source}: the body is one
// JSON object or an array of objects, and each object becomes a row.
func (s *Server) handleRows(w http.ResponseWriter, r *http.Request) {
	ex := s.begin(w, r, OpRow, s.config().MaxBodyBytes)
	var rows []map[string]any
	var parseErr error
	if ex.bodyErr == nil {
		rows, parseErr = parseRows(ex.body)
		ex.keys = rowKeys(rows)
	}
	if !s.await(w, r, ex) {
		return
	}
	s.finish(w, ex, s.acceptRows(r, ex, rows, parseErr))
}

func (s *Server) acceptRows(r *http.Request, ex *exchange, rows []map[string]any, parseErr error) reply {
	cfg := s.config()
	if cfg.WebhookToken != "" && !secretsEqual(r.Header.Get(webhookAuthHeader), cfg.WebhookToken) {
		return errorReply(http.StatusUnauthorized, "missing or invalid %s header", webhookAuthHeader)
	}
	if ex.bodyErr != nil {
		return bodyErrorReply(ex.bodyErr)
	}
	if parseErr != nil {
		return errorReply(http.StatusBadRequest, "invalid request body: %v", parseErr)
	}
	if rep, ok := s.admitRows(r.PathValue("source"), len(rows), cfg); !ok {
		return rep
	}
	s.startCallbacks(rows, cfg)
	rep := webhookAck(cfg.WebhookAck, len(rows))
	rep.rowsAccepted = len(rows)
	return rep
}

// parseRows decodes a webhook body into rows, keeping numbers as written
// so that callbacks return them unchanged.
func parseRows(body []byte) ([]map[string]any, error) {
	decoder := json.NewDecoder(bytes.NewReader(body))
	decoder.UseNumber()
	var doc any
	if err := decoder.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the body is empty")
		}
		return nil, err
	}
	if _, err := decoder.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON value")
	}
	switch v := doc.(type) {
	case map[string]any:
		return []map[string]any{v}, nil
	case []any:
		if len(v) == 0 {
			return nil, fmt.Errorf("the array contains no rows")
		}
		rows := make([]map[string]any, len(v))
		for i, element := range v {
			row, ok := element.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("row %d is %s, not a JSON object", i, jsonKind(element))
			}
			rows[i] = row
		}
		return rows, nil
	default:
		return nil, fmt.Errorf("the body is %s, not a JSON object or an array of objects", jsonKind(doc))
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	default:
		return "an object"
	}
}

// rowKeys returns the request key of each row, or "" for rows without a
// string claybridge_key.
func rowKeys(rows []map[string]any) []string {
	keys := make([]string, len(rows))
	for i, row := range rows {
		keys[i], _ = row[rowKeyField].(string)
	}
	return keys
}

// admitRows applies the source's lifetime limit and the workspace's
// records rate limit to n rows, which are admitted or rejected together.
func (s *Server) admitRows(source string, n int, cfg Config) (reply, bool) {
	s.sourcesMu.Lock()
	defer s.sourcesMu.Unlock()

	// NOTE: Clay documents the lifetime limit of 50,000 submissions per
	// webhook source but not the response past it, so the default 403 is
	// a guess. CapStatus lets tests try others, such as 422 or 429.
	if cfg.MaxRowsPerSource > 0 && s.rowsBySource[source]+n > cfg.MaxRowsPerSource {
		return errorReply(cfg.CapStatus,
			"webhook source %q has reached its lifetime limit of %d submissions: create a new webhook source",
			source, cfg.MaxRowsPerSource), false
	}
	// A request of more rows than the burst can never pass, as with any
	// token bucket, so the client has to send smaller batches.
	if !s.limiter.AllowN(time.Now(), n) {
		rep := errorReply(http.StatusTooManyRequests,
			"rate limit exceeded: the workspace accepts %g records per second with a burst of %d, and this request has %d",
			cfg.RateLimit, cfg.Burst, n)
		if !cfg.NoRetryAfter {
			rep.header = http.Header{"Retry-After": {"1"}}
		}
		return rep, false
	}
	s.rowsBySource[source] += n
	return reply{}, true
}

// webhookAck returns the success response variant ack for n rows.
func webhookAck(ack string, n int) reply {
	switch ack {
	case AckEmpty200:
		return reply{status: http.StatusOK}
	case AckJSON202:
		return jsonReply(http.StatusAccepted, webhookAckBody{Status: "ok", Rows: n})
	case AckHTML200:
		return reply{
			status:      http.StatusOK,
			contentType: "text/html; charset=utf-8",
			body:        []byte("<!DOCTYPE html><html><body><p>OK</p></body></html>\n"),
		}
	default:
		return jsonReply(http.StatusOK, webhookAckBody{Status: "ok", Rows: n})
	}
}

type webhookAckBody struct {
	Status string `json:"status"`
	Rows   int    `json:"rows"`
}

package claysim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"time"
)

// maxRoutineItems is the largest number of items in one routine run
// request, as Clay documents.
const maxRoutineItems = 100

// routineItem is one input of a routine run.
type routineItem struct {
	ID     string         `json:"id"`
	Inputs map[string]any `json:"inputs"`
}

// routineRun is an accepted run whose results are ready at readyAt.
type routineRun struct {
	id        string
	routineID string
	readyAt   time.Time
	items     []routineItem
}

// runStore keeps every routine run for the lifetime of the simulator.
type runStore struct {
	mu   sync.Mutex
	runs map[string]*routineRun
}

func (rs *runStore) add(run *routineRun) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.runs[run.id] = run
}

func (rs *runStore) get(id string) (*routineRun, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	run, ok := rs.runs[id]
	return run, ok
}

// handleRoutineRun serves POST /public/v0/routines/{routineID}/run.
func (s *Server) handleRoutineRun(w http.ResponseWriter, r *http.Request) {
	ex := s.begin(w, r, OpRoutine, maxPublicBodyBytes)
	var items []routineItem
	var decodeErr error
	if ex.bodyErr == nil {
		items, decodeErr = decodeRoutineItems(ex.body)
		for _, item := range items {
			ex.keys = append(ex.keys, item.ID)
		}
	}
	if !s.await(w, r, ex) {
		return
	}
	s.finish(w, ex, s.startRun(r, ex, items, decodeErr))
}

func (s *Server) startRun(r *http.Request, ex *exchange, items []routineItem, decodeErr error) reply {
	cfg := s.config()
	if rep, ok := checkAPIKey(r, cfg); !ok {
		return rep
	}
	if ex.bodyErr != nil {
		return bodyErrorReply(ex.bodyErr)
	}
	if decodeErr != nil {
		return errorReply(http.StatusBadRequest, "invalid request body: %v", decodeErr)
	}
	if err := validateRoutineItems(items); err != nil {
		return errorReply(http.StatusBadRequest, "%v", err)
	}

	run := &routineRun{
		id:        newID("run"),
		routineID: r.PathValue("routineID"),
		readyAt:   ex.start.Add(cfg.RoutineDelay),
		items:     items,
	}
	s.runs.add(run)
	return jsonReply(http.StatusAccepted, runStatus{RunID: run.id, Status: "running"})
}

// decodeRoutineItems decodes {"items": [...]}, keeping numbers in inputs
// as written.
func decodeRoutineItems(body []byte) ([]routineItem, error) {
	var request struct {
		Items []routineItem `json:"items"`
	}
	decoder := json.NewDecoder(bytes.NewReader(body))
	decoder.UseNumber()
	if err := decoder.Decode(&request); err != nil {
		return nil, err
	}
	if decoder.More() {
		return nil, errors.New("unexpected data after the JSON object")
	}
	return request.Items, nil
}

func validateRoutineItems(items []routineItem) error {
	if len(items) < 1 || len(items) > maxRoutineItems {
		return fmt.Errorf("items must contain 1 to %d entries, got %d", maxRoutineItems, len(items))
	}
	for i, item := range items {
		if item.ID == "" {
			return fmt.Errorf("items[%d].id is missing", i)
		}
	}
	return nil
}

type runStatus struct {
	RunID  string `json:"run_id"`
	Status string `json:"status"`
}

// routineResult is the outcome of one item of a finished run.
type routineResult struct {
	ID     string         `json:"id"`
	Status string         `json:"status"`
	Output map[string]any `json:"output,omitempty"`
	Error  string         `json:"error,omitempty"`
}

type runResultsPage struct {
	RunID      string          `json:"run_id"`
	Status     string          `json:"status"`
	Results    []routineResult `json:"results"`
	HasMore    bool            `json:"has_more"`
	NextCursor string          `json:"next_cursor"`
}

// handleRoutineResults serves GET /public/v0/routines/run/{runID}/results:
// 202 until the run's delay has passed, then pages of item results.
func (s *Server) handleRoutineResults(w http.ResponseWriter, r *http.Request) {
	ex := s.begin(w, r, OpRoutine, maxPublicBodyBytes)
	if !s.await(w, r, ex) {
		return
	}
	s.finish(w, ex, s.runResults(r))
}

func (s *Server) runResults(r *http.Request) reply {
	cfg := s.config()
	if rep, ok := checkAPIKey(r, cfg); !ok {
		return rep
	}
	runID := r.PathValue("runID")
	run, ok := s.runs.get(runID)
	if !ok {
		return errorReply(http.StatusNotFound, "routine run %q not found", runID)
	}
	if time.Now().Before(run.readyAt) {
		return jsonReply(http.StatusAccepted, runStatus{RunID: run.id, Status: "running"})
	}

	offset := 0
	if cursor := r.URL.Query().Get("cursor"); cursor != "" {
		owner, decoded, err := decodeCursor(cursor)
		if err != nil || owner != run.id || decoded >= len(run.items) {
			return errorReply(http.StatusBadRequest, "invalid cursor %q for routine run %q", cursor, run.id)
		}
		offset = decoded
	}
	return jsonReply(http.StatusOK, run.page(offset, cfg.RoutinePageSize))
}

func (run *routineRun) page(offset, size int) runResultsPage {
	end := min(offset+size, len(run.items))
	page := runResultsPage{RunID: run.id, Status: "done", Results: make([]routineResult, 0, end-offset)}
	for _, item := range run.items[offset:end] {
		page.Results = append(page.Results, routineOutput(run.routineID, item))
	}
	if end < len(run.items) {
		page.HasMore = true
		page.NextCursor = encodeCursor(run.id, end)
	}
	return page
}

// routineOutput returns the simulated result of one item: a failure when
// its inputs contain "fail": true, else the inputs plus fields derived
// from a hash of the item id.
func routineOutput(routineID string, item routineItem) routineResult {
	if fail, _ := item.Inputs["fail"].(bool); fail {
		return routineResult{ID: item.ID, Status: "failed", Error: "simulated failure: the item's inputs contain \"fail\": true"}
	}
	output := maps.Clone(item.Inputs)
	if output == nil {
		output = map[string]any{}
	}
	h := hashString(routineID, item.ID)
	output["score"] = int(h % 101)
	output["confidence"] = float64((h>>8)%1000) / 1000
	output["enriched"] = true
	return routineResult{ID: item.ID, Status: "complete", Output: output}
}

package claysim

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestMeAPIKey(t *testing.T) {
	tests := []struct {
		name       string
		configured string
		sent       string
		want       int
	}{
		{"configured key accepted", "secret", "secret", http.StatusOK},
		{"wrong key rejected", "secret", "other", http.StatusUnauthorized},
		{"missing key rejected", "secret", "", http.StatusUnauthorized},
		{"any key when none configured", "", "whatever", http.StatusOK},
		{"missing key when none configured", "", "", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := startSim(t, Config{APIKey: tt.configured})
			header := map[string]string{}
			if tt.sent != "" {
				header["clay-api-key"] = tt.sent
			}
			resp := do(t, request{method: http.MethodGet, url: sim.URL() + "/public/v0/me", header: header})
			wantStatus(t, resp, tt.want)
			if tt.want != http.StatusOK {
				wantMessage(t, resp)
				return
			}
			me := decode[meResponse](t, resp)
			if me.WorkspaceID != 1 || me.Name != "Simulated workspace" {
				t.Errorf("me = %+v, want workspace 1 named Simulated workspace", me)
			}
		})
	}
}

func TestPublicEndpointsRequireAPIKey(t *testing.T) {
	sim := startSim(t, unlimited())
	paths := []struct {
		method string
		path   string
		body   string
	}{
		{http.MethodPost, "/public/v0/routines/r1/run", `{"items":[{"id":"a"}]}`},
		{http.MethodGet, "/public/v0/routines/run/run_x/results", ""},
		{http.MethodPost, "/public/v0/search/people", `{"limit":1}`},
		{http.MethodPost, "/public/v0/search/companies", `{"limit":1}`},
	}
	for _, p := range paths {
		t.Run(p.method+" "+p.path, func(t *testing.T) {
			resp := do(t, request{method: p.method, url: sim.URL() + p.path, body: p.body,
				header: map[string]string{"clay-api-key": "wrong"}})
			wantStatus(t, resp, http.StatusUnauthorized)
			wantMessage(t, resp)
		})
	}
}

type runItem struct {
	ID     string         `json:"id"`
	Inputs map[string]any `json:"inputs,omitempty"`
}

func TestRoutineRunAndResults(t *testing.T) {
	cfg := unlimited()
	cfg.RoutineDelay = 300 * time.Millisecond
	cfg.RoutinePageSize = 2
	sim := startSim(t, cfg)

	items := []runItem{
		{ID: "k0", Inputs: map[string]any{"domain": "northwind.example.com"}},
		{ID: "k1", Inputs: map[string]any{"domain": "bluefern.example.com", "count": 7}},
		{ID: "k2", Inputs: map[string]any{"fail": true}},
		{ID: "k3"},
		{ID: "k4", Inputs: map[string]any{"domain": "kestrel.example.com"}},
	}
	resp := callPublic(t, sim, http.MethodPost, "/routines/r1/run", map[string]any{"items": items})
	wantStatus(t, resp, http.StatusAccepted)
	started := decode[runStatus](t, resp)
	if started.RunID == "" || started.Status != "running" {
		t.Fatalf("run = %+v, want a run id and status running", started)
	}

	resultsPath := "/routines/run/" + started.RunID + "/results"
	early := callPublic(t, sim, http.MethodGet, resultsPath, nil)
	wantStatus(t, early, http.StatusAccepted)
	if got := decode[runStatus](t, early).Status; got != "running" {
		t.Errorf("early status = %q, want running", got)
	}

	var first response
	waitFor(t, 3*time.Second, "routine results", func() bool {
		first = callPublic(t, sim, http.MethodGet, resultsPath, nil)
		return first.status == http.StatusOK
	})

	results := collectRunResults(t, sim, resultsPath, first, []int{2, 2, 1})
	if len(results) != len(items) {
		t.Fatalf("got %d results, want %d", len(results), len(items))
	}
	for i, result := range results {
		if result.ID != items[i].ID {
			t.Errorf("result %d id = %q, want %q", i, result.ID, items[i].ID)
		}
	}
	failed := results[2]
	if failed.Status != "failed" || failed.Error == "" || failed.Output != nil {
		t.Errorf("item with fail input = %+v, want status failed with an error and no output", failed)
	}
	complete := results[1]
	if complete.Status != "complete" {
		t.Errorf("item k1 status = %q, want complete", complete.Status)
	}
	if got := complete.Output["domain"]; got != "bluefern.example.com" {
		t.Errorf("item k1 output domain = %v, want the input echoed", got)
	}
	if got := complete.Output["count"]; got != 7.0 {
		t.Errorf("item k1 output count = %v, want 7", got)
	}
	if _, ok := complete.Output["score"].(float64); !ok {
		t.Errorf("item k1 output score = %v, want a number", complete.Output["score"])
	}
}

// collectRunResults follows next_cursor from first and checks the size of
// each page against pageSizes.
func collectRunResults(t *testing.T, sim *Running, path string, first response, pageSizes []int) []routineResult {
	t.Helper()
	var all []routineResult
	page := decode[runResultsPage](t, first)
	for i, wantSize := range pageSizes {
		if len(page.Results) != wantSize {
			t.Fatalf("page %d has %d results, want %d", i, len(page.Results), wantSize)
		}
		if page.Status != "done" {
			t.Errorf("page %d status = %q, want done", i, page.Status)
		}
		all = append(all, page.Results...)
		wantMore := i < len(pageSizes)-1
		if page.HasMore != wantMore {
			t.Fatalf("page %d has_more = %v, want %v", i, page.HasMore, wantMore)
		}
		if !wantMore {
			if page.NextCursor != "" {
				t.Errorf("last page next_cursor = %q, want empty", page.NextCursor)
			}
			break
		}
		resp := callPublic(t, sim, http.MethodGet, path+"?cursor="+page.NextCursor, nil)
		wantStatus(t, resp, http.StatusOK)
		page = decode[runResultsPage](t, resp)
	}
	return all
}

func TestRoutineOutputIsDeterministic(t *testing.T) {
	item := routineItem{ID: "k1", Inputs: map[string]any{"domain": "a.example.com"}}
	first := routineOutput("r1", item)
	second := routineOutput("r1", item)
	if fmt.Sprint(first) != fmt.Sprint(second) {
		t.Errorf("outputs differ: %v and %v", first, second)
	}
	other := routineOutput("r1", routineItem{ID: "k2", Inputs: item.Inputs})
	if fmt.Sprint(first.Output) == fmt.Sprint(other.Output) {
		t.Errorf("outputs for ids k1 and k2 are equal: %v", first.Output)
	}
}

func TestRoutineRunInvalidRequest(t *testing.T) {
	sim := startSim(t, unlimited())
	tooMany := make([]runItem, maxRoutineItems+1)
	for i := range tooMany {
		tooMany[i] = runItem{ID: fmt.Sprintf("k%d", i)}
	}
	tests := []struct {
		name string
		body any
	}{
		{"not JSON", "items"},
		{"no items", map[string]any{"items": []runItem{}}},
		{"items missing", map[string]any{}},
		{"too many items", map[string]any{"items": tooMany}},
		{"missing id", map[string]any{"items": []runItem{{ID: "a"}, {}}}},
		{"inputs not an object", `{"items":[{"id":"a","inputs":[1]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := callPublic(t, sim, http.MethodPost, "/routines/r1/run", tt.body)
			wantStatus(t, resp, http.StatusBadRequest)
			wantMessage(t, resp)
		})
	}
}

func TestRoutineRunAcceptsMaxItems(t *testing.T) {
	sim := startSim(t, unlimited())
	items := make([]runItem, maxRoutineItems)
	for i := range items {
		items[i] = runItem{ID: fmt.Sprintf("k%d", i)}
	}
	resp := callPublic(t, sim, http.MethodPost, "/routines/r1/run", map[string]any{"items": items})
	wantStatus(t, resp, http.StatusAccepted)
}

func TestRoutineResultsErrors(t *testing.T) {
	cfg := unlimited()
	cfg.RoutineDelay = -1
	cfg.RoutinePageSize = 1
	sim := startSim(t, cfg)
	resp := callPublic(t, sim, http.MethodPost, "/routines/r1/run", map[string]any{"items": []runItem{{ID: "a"}, {ID: "b"}}})
	wantStatus(t, resp, http.StatusAccepted)
	runID := decode[runStatus](t, resp).RunID

	tests := []struct {
		name string
		path string
		want int
	}{
		{"unknown run", "/routines/run/run_unknown/results", http.StatusNotFound},
		{"garbled cursor", "/routines/run/" + runID + "/results?cursor=%25%25", http.StatusBadRequest},
		{"cursor of another run", "/routines/run/" + runID + "/results?cursor=" + encodeCursor("run_other", 1), http.StatusBadRequest},
		{"cursor past the end", "/routines/run/" + runID + "/results?cursor=" + encodeCursor(runID, 2), http.StatusBadRequest},
		{"valid cursor", "/routines/run/" + runID + "/results?cursor=" + encodeCursor(runID, 1), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := callPublic(t, sim, http.MethodGet, tt.path, nil)
			wantStatus(t, resp, tt.want)
			if tt.want != http.StatusOK {
				wantMessage(t, resp)
			}
		})
	}
}

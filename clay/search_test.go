package clay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/claybridge/claybridge/clay"
)

// searchServer serves a search of three pages, failing the first request
// for page two with a 503.
type searchServer struct {
	mu      sync.Mutex
	cursors []string // the cursor of each request, "" for a new search
	failed  bool
	started int
}

func (s *searchServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var q clay.SearchQuery
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cursors = append(s.cursors, q.Cursor)
	page := clay.SearchPage{Results: []json.RawMessage{json.RawMessage(`{"name":"x"}`)}}
	switch q.Cursor {
	case "":
		s.started++
		page.SearchID = fmt.Sprintf("search-%d", s.started)
		page.HasMore, page.NextCursor = true, page.SearchID+"-page-2"
	case "search-1-page-2", "search-2-page-2":
		if !s.failed {
			s.failed = true
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"message":"try again"}`))
			return
		}
		page.HasMore, page.NextCursor = true, strings.TrimSuffix(q.Cursor, "-page-2")+"-page-3"
	default:
		page.HasMore = false
	}
	_ = json.NewEncoder(w).Encode(page)
}

func TestSearchRetryStartsNewSearch(t *testing.T) {
	s := &searchServer{}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := clay.New(clay.Config{BaseURL: srv.URL, APIKey: "key"})
	ctx := context.Background()

	_, err := c.Search(ctx, "people", map[string]any{"title": "CTO"}, 10, "k1")
	if !errors.Is(err, clay.ErrTransient) {
		t.Fatalf("first search: error %v, want a transient one from page two", err)
	}
	results, err := c.Search(ctx, "people", map[string]any{"title": "CTO"}, 10, "k1")
	if err != nil {
		t.Fatalf("retried search: %v", err)
	}
	if len(results) != 3 {
		t.Errorf("retried search returned %d results, want 3", len(results))
	}
	want := []string{"", "search-1-page-2", "", "search-2-page-2", "search-2-page-3"}
	if len(s.cursors) != len(want) {
		t.Fatalf("cursors %q, want %q", s.cursors, want)
	}
	for i := range want {
		if s.cursors[i] != want[i] {
			t.Errorf("request %d had cursor %q, want %q: a retry starts a new search", i+1, s.cursors[i], want[i])
		}
	}
}

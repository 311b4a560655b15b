package claysim

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sync"
)

// searchKeyHeader carries claybridge's request key on search requests.
const searchKeyHeader = "X-Claybridge-Key"

// Search limits: a request may ask for 1 to maxSearchLimit results in
// all, and each page holds at most searchPageSize of them.
const (
	maxSearchLimit = 500
	searchPageSize = 25
)

// simulatedTotalFilter is a filter that sets the number of matches of a
// search, for tests that need an exact count such as zero. Without it the
// count is 40 to 500, derived from the filters.
const simulatedTotalFilter = "simulated_total"

type searchKind string

const (
	searchPeople    searchKind = "people"
	searchCompanies searchKind = "companies"
)

type searchRequest struct {
	Filters map[string]any `json:"filters"`
	Limit   int            `json:"limit"`
	Cursor  string         `json:"cursor"`
}

type searchResponse struct {
	SearchID   string           `json:"search_id"`
	Results    []map[string]any `json:"results"`
	HasMore    bool             `json:"has_more"`
	NextCursor string           `json:"next_cursor"`
}

// searchState is a search iterator: its results are generated from seed
// and their index, and there are available of them.
type searchState struct {
	id        string
	kind      searchKind
	seed      uint64
	available int
}

// searchStore keeps every search for the lifetime of the simulator, so
// that any cursor it issued stays valid.
type searchStore struct {
	mu       sync.Mutex
	searches map[string]*searchState
}

func (ss *searchStore) add(state *searchState) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.searches[state.id] = state
}

func (ss *searchStore) get(id string) (*searchState, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	state, ok := ss.searches[id]
	return state, ok
}

// handleSearch returns the handler of POST /public/v0/search/people or
// /public/v0/search/companies.
func (s *Server) handleSearch(kind searchKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ex := s.begin(w, r, OpSearch, maxPublicBodyBytes)
		if key := r.Header.Get(searchKeyHeader); key != "" {
			ex.keys = []string{key}
		}
		if !s.await(w, r, ex) {
			return
		}
		s.finish(w, ex, s.search(r, ex, kind))
	}
}

func (s *Server) search(r *http.Request, ex *exchange, kind searchKind) reply {
	if rep, ok := checkAPIKey(r, s.config()); !ok {
		return rep
	}
	if ex.bodyErr != nil {
		return bodyErrorReply(ex.bodyErr)
	}
	var request searchRequest
	if err := json.Unmarshal(ex.body, &request); err != nil {
		return errorReply(http.StatusBadRequest, "invalid request body: %v", err)
	}

	if request.Cursor != "" {
		state, offset, err := s.resumeSearch(request.Cursor, kind)
		if err != nil {
			return errorReply(http.StatusBadRequest, "%v", err)
		}
		return jsonReply(http.StatusOK, state.page(offset))
	}

	if request.Limit < 1 || request.Limit > maxSearchLimit {
		return errorReply(http.StatusUnprocessableEntity,
			"invalid limit %d: must be between 1 and %d", request.Limit, maxSearchLimit)
	}
	state, err := newSearch(kind, request.Filters, request.Limit)
	if err != nil {
		return errorReply(http.StatusUnprocessableEntity, "%v", err)
	}
	s.searches.add(state)
	return jsonReply(http.StatusOK, state.page(0))
}

// resumeSearch returns the search and offset that cursor points at.
func (s *Server) resumeSearch(cursor string, kind searchKind) (*searchState, int, error) {
	id, offset, err := decodeCursor(cursor)
	if err != nil {
		return nil, 0, fmt.Errorf("%w %q", errInvalidCursor, cursor)
	}
	state, ok := s.searches.get(id)
	if !ok || state.kind != kind || offset >= state.available {
		return nil, 0, fmt.Errorf("%w %q for a %s search", errInvalidCursor, cursor, kind)
	}
	return state, offset, nil
}

// newSearch starts a search whose results depend only on kind and
// filters.
func newSearch(kind searchKind, filters map[string]any, limit int) (*searchState, error) {
	if filters == nil {
		filters = map[string]any{}
	}
	// json.Marshal sorts map keys, so equal filters give equal seeds.
	canonical, err := json.Marshal(filters)
	if err != nil {
		return nil, fmt.Errorf("invalid filters: %v", err)
	}
	seed := hashString(string(kind), string(canonical))

	total := 40 + int(seed%461)
	if value, ok := filters[simulatedTotalFilter]; ok {
		n, ok := value.(float64)
		if !ok || n < 0 || n != math.Trunc(n) {
			return nil, fmt.Errorf("invalid filter %s %v: must be a whole number of 0 or more", simulatedTotalFilter, value)
		}
		total = int(min(n, maxSearchLimit))
	}
	return &searchState{id: newID("search"), kind: kind, seed: seed, available: min(total, limit)}, nil
}

func (state *searchState) page(offset int) searchResponse {
	end := min(offset+searchPageSize, state.available)
	page := searchResponse{SearchID: state.id, Results: make([]map[string]any, 0, end-offset)}
	for i := offset; i < end; i++ {
		page.Results = append(page.Results, state.result(i))
	}
	if end < state.available {
		page.HasMore = true
		page.NextCursor = encodeCursor(state.id, end)
	}
	return page
}

func (state *searchState) result(i int) map[string]any {
	if state.kind == searchCompanies {
		return fakeCompany(mix(state.seed, i))
	}
	return fakePerson(mix(state.seed, i))
}

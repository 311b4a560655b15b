package claysim

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

type searchBody struct {
	Filters map[string]any `json:"filters,omitempty"`
	Limit   int            `json:"limit,omitempty"`
	Cursor  string         `json:"cursor,omitempty"`
}

func searchPage(t *testing.T, sim *Running, kind string, body searchBody) searchResponse {
	t.Helper()
	resp := callPublic(t, sim, http.MethodPost, "/search/"+kind, body)
	wantStatus(t, resp, http.StatusOK)
	return decode[searchResponse](t, resp)
}

func TestSearchIsDeterministic(t *testing.T) {
	sim := startSim(t, unlimited())
	for _, kind := range []string{"people", "companies"} {
		t.Run(kind, func(t *testing.T) {
			filters := map[string]any{"job_title": "Head of Growth", "country": "Portugal"}
			first := searchPage(t, sim, kind, searchBody{Filters: filters, Limit: 10})
			second := searchPage(t, sim, kind, searchBody{Filters: filters, Limit: 10})
			if first.SearchID == second.SearchID {
				t.Errorf("two searches share search_id %q, want a new id per search", first.SearchID)
			}
			if !reflect.DeepEqual(first.Results, second.Results) {
				t.Errorf("same filters gave different results:\n%v\n%v", first.Results, second.Results)
			}
			if len(first.Results) != 10 {
				t.Errorf("got %d results, want 10", len(first.Results))
			}

			other := searchPage(t, sim, kind, searchBody{Filters: map[string]any{"job_title": "Data Engineer"}, Limit: 10})
			if reflect.DeepEqual(first.Results, other.Results) {
				t.Errorf("different filters gave the same results: %v", first.Results)
			}
		})
	}
}

func TestSearchResultFields(t *testing.T) {
	sim := startSim(t, unlimited())
	people := searchPage(t, sim, "people", searchBody{Limit: 5})
	for _, person := range people.Results {
		email, _ := person["email"].(string)
		if !strings.HasSuffix(email, ".example.com") {
			t.Errorf("person email = %q, want an address under example.com", email)
		}
		for _, field := range []string{"id", "full_name", "title", "company_name", "company_domain"} {
			if value, _ := person[field].(string); value == "" {
				t.Errorf("person %v has no %s", person, field)
			}
		}
	}
	companies := searchPage(t, sim, "companies", searchBody{Limit: 5})
	for _, company := range companies.Results {
		domain, _ := company["domain"].(string)
		if !strings.HasSuffix(domain, ".example.com") {
			t.Errorf("company domain = %q, want a domain under example.com", domain)
		}
		if _, ok := company["employee_count"].(float64); !ok {
			t.Errorf("company %v has no numeric employee_count", company)
		}
	}
}

func TestSearchPaging(t *testing.T) {
	sim := startSim(t, unlimited())
	tests := []struct {
		name      string
		total     int
		limit     int
		wantPages []int
	}{
		{"limit below total", 100, 60, []int{25, 25, 10}},
		{"total below limit", 30, 500, []int{25, 5}},
		{"exactly one page", 25, 25, []int{25}},
		{"no matches", 0, 10, []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			filters := map[string]any{simulatedTotalFilter: tt.total, "industry": tt.name}
			page := searchPage(t, sim, "people", searchBody{Filters: filters, Limit: tt.limit})
			searchID := page.SearchID
			seen := map[string]bool{}
			for i, wantSize := range tt.wantPages {
				if len(page.Results) != wantSize {
					t.Fatalf("page %d has %d results, want %d", i, len(page.Results), wantSize)
				}
				if page.SearchID != searchID {
					t.Errorf("page %d search_id = %q, want %q", i, page.SearchID, searchID)
				}
				for _, result := range page.Results {
					id, _ := result["id"].(string)
					if seen[id] {
						t.Errorf("page %d repeats result %q", i, id)
					}
					seen[id] = true
				}
				wantMore := i < len(tt.wantPages)-1
				if page.HasMore != wantMore {
					t.Fatalf("page %d has_more = %v, want %v", i, page.HasMore, wantMore)
				}
				if !wantMore {
					if page.NextCursor != "" {
						t.Errorf("last page next_cursor = %q, want empty", page.NextCursor)
					}
					break
				}
				page = searchPage(t, sim, "people", searchBody{Cursor: page.NextCursor})
			}
		})
	}
}

func TestSearchInvalidRequest(t *testing.T) {
	sim := startSim(t, unlimited())
	companies := searchPage(t, sim, "companies", searchBody{Limit: 100})
	tests := []struct {
		name string
		body any
		want int
	}{
		{"not JSON", "{", http.StatusBadRequest},
		{"filters not an object", `{"filters":[1],"limit":5}`, http.StatusBadRequest},
		{"limit not a number", `{"limit":"ten"}`, http.StatusBadRequest},
		{"limit missing", searchBody{}, http.StatusUnprocessableEntity},
		{"limit too large", searchBody{Limit: 501}, http.StatusUnprocessableEntity},
		{"limit negative", searchBody{Limit: -1}, http.StatusUnprocessableEntity},
		{"simulated total not whole", searchBody{Limit: 5, Filters: map[string]any{simulatedTotalFilter: 2.5}}, http.StatusUnprocessableEntity},
		{"garbled cursor", searchBody{Cursor: "%%%"}, http.StatusBadRequest},
		{"unknown search", searchBody{Cursor: encodeCursor("search_unknown", 25)}, http.StatusBadRequest},
		{"cursor of a company search", searchBody{Cursor: companies.NextCursor}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := callPublic(t, sim, http.MethodPost, "/search/people", tt.body)
			wantStatus(t, resp, tt.want)
			wantMessage(t, resp)
		})
	}
}

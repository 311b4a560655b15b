package clay

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// RoutineItem is one item of a routine run. Its ID is the request key.
type RoutineItem struct {
	ID     string         `json:"id"`
	Inputs map[string]any `json:"inputs"`
}

// RoutineItemResult is one item's outcome in a finished run.
type RoutineItemResult struct {
	ID     string          `json:"id"`
	Status string          `json:"status"`
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// Routine item statuses.
const (
	ItemComplete = "complete"
	ItemFailed   = "failed"
)

// RoutinePage is one page of a run's results. Done is false while Clay
// answers 202 (still running).
type RoutinePage struct {
	Done       bool                `json:"-"`
	Results    []RoutineItemResult `json:"results"`
	HasMore    bool                `json:"has_more"`
	NextCursor string              `json:"next_cursor"`
}

// SearchPage is one page of a search.
type SearchPage struct {
	SearchID   string            `json:"search_id"`
	Results    []json.RawMessage `json:"results"`
	HasMore    bool              `json:"has_more"`
	NextCursor string            `json:"next_cursor"`
}

func (c *Client) publicCall(op, method, path string, payload any, key string) (call, error) {
	cl := call{surface: SurfacePublicAPI, op: op, method: method, url: c.baseURL + PublicAPIPath + path,
		headers: map[string]string{HeaderAPIKey: c.apiKey, HeaderRequestKey: key}}
	if payload != nil {
		body, err := json.Marshal(payload)
		if err != nil {
			return cl, &Error{Op: op, Kind: KindRejected, Message: fmt.Sprintf("encode body: %v", err), Err: err}
		}
		cl.body = body
	}
	return cl, nil
}

func (c *Client) publicJSON(ctx context.Context, cl call, out any) (*Response, error) {
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	if out != nil && resp.Status != http.StatusAccepted {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			return nil, &Error{Op: cl.op, Kind: KindTransient, Status: 0, MayHaveReached: true,
				Message: fmt.Sprintf("decode %d answer: %v", resp.Status, err), Err: err}
		}
	}
	return resp, nil
}

// Me checks the API key with GET /me.
func (c *Client) Me(ctx context.Context) error {
	cl, _ := c.publicCall("me", "GET", "/me", nil, "")
	_, err := c.do(ctx, cl)
	return err
}

// RunRoutine starts a run of a routine over items (1 to 100) and returns
// its run id.
func (c *Client) RunRoutine(ctx context.Context, routineID string, items []RoutineItem) (string, error) {
	cl, err := c.publicCall("routine run", "POST", "/routines/"+url.PathEscape(routineID)+"/run", map[string]any{"items": items}, "")
	if err != nil {
		return "", err
	}
	var started struct {
		RunID string `json:"run_id"`
	}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(resp.Body, &started); err != nil || started.RunID == "" {
		return "", &Error{Op: cl.op, Kind: KindTransient, MayHaveReached: true,
			Message: fmt.Sprintf("answer %d carries no run_id", resp.Status)}
	}
	return started.RunID, nil
}

// RoutineResults reads one page of a run's results. A 202 returns a page
// with Done false.
func (c *Client) RoutineResults(ctx context.Context, runID, cursor string) (*RoutinePage, error) {
	path := "/routines/run/" + url.PathEscape(runID) + "/results"
	if cursor != "" {
		path += "?cursor=" + url.QueryEscape(cursor)
	}
	cl, _ := c.publicCall("routine results", "GET", path, nil, "")
	page := &RoutinePage{}
	resp, err := c.publicJSON(ctx, cl, page)
	if err != nil {
		return nil, err
	}
	page.Done = resp.Status != http.StatusAccepted
	return page, nil
}

// SearchQuery is a people or company search.
type SearchQuery struct {
	Filters map[string]any `json:"filters"`
	Limit   int            `json:"limit"`
	Cursor  string         `json:"cursor,omitempty"`
}

// SearchPage reads one page of a search of sourceType ("people" or
// "companies"). key is sent as X-Claybridge-Key.
func (c *Client) SearchPage(ctx context.Context, sourceType string, q SearchQuery, key string) (*SearchPage, error) {
	cl, err := c.publicCall("search", "POST", "/search/"+url.PathEscape(sourceType), q, key)
	if err != nil {
		return nil, err
	}
	page := &SearchPage{}
	if _, err := c.publicJSON(ctx, cl, page); err != nil {
		return nil, err
	}
	return page, nil
}

// Search runs a search from its first page and follows has_more until limit
// results arrive. Clay's searches are stateful iterators, so a failed
// search is started again from the beginning, never resumed.
func (c *Client) Search(ctx context.Context, sourceType string, filters map[string]any, limit int, key string) ([]json.RawMessage, error) {
	var results []json.RawMessage
	q := SearchQuery{Filters: filters, Limit: limit}
	for {
		page, err := c.SearchPage(ctx, sourceType, q, key)
		if err != nil {
			return nil, err
		}
		results = append(results, page.Results...)
		if !page.HasMore || page.NextCursor == "" || len(results) >= limit || len(page.Results) == 0 {
			break
		}
		q.Cursor = page.NextCursor
	}
	if len(results) > limit {
		results = results[:limit]
	}
	return results, nil
}

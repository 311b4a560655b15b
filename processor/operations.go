package processor

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/subjects"
)

// webhookAck is the result data of a pushed row: Clay only acknowledges it.
type webhookAck struct {
	HTTPStatus int             `json:"http_status"`
	Body       json.RawMessage `json:"body"`
}

func (p *Processor) pushRow(ctx context.Context, j *job, req *subjects.Request) (json.RawMessage, error) {
	hook, err := p.webhookFor(req.Row.Table)
	if err != nil {
		return nil, err
	}
	row := maps.Clone(req.Row.Row)
	row[subjects.RowKeyColumn] = req.Key
	if err := p.markSent(ctx, j); err != nil {
		return nil, err
	}
	resp, err := within(ctx, j, p.cfg.UploadTimeout, func(ctx context.Context) (*clay.Response, error) {
		return p.clay.PushRows(ctx, hook, []map[string]any{row})
	})
	if err != nil {
		return nil, err
	}
	p.counted.add(req.Row.Table, 1)
	return json.Marshal(webhookAck{HTTPStatus: resp.Status, Body: resp.JSON()})
}

// errRoutineItemFailed marks a routine item that Clay reported as failed.
var errRoutineItemFailed = fmt.Errorf("%w: routine item failed", clay.ErrRejected)

func (p *Processor) runRoutine(ctx context.Context, j *job, req *subjects.Request) (json.RawMessage, error) {
	items := []clay.RoutineItem{{ID: req.Key, Inputs: req.Routine.Inputs}}
	if err := p.markSent(ctx, j); err != nil {
		return nil, err
	}
	runID, err := within(ctx, j, p.cfg.RequestTimeout, func(ctx context.Context) (string, error) {
		return p.clay.RunRoutine(ctx, req.Routine.RoutineID, items)
	})
	if err != nil {
		return nil, err
	}
	return within(ctx, j, p.cfg.LongPollTimeout, func(ctx context.Context) (json.RawMessage, error) {
		return p.awaitRoutineItem(ctx, j, runID, req.Key)
	})
}

// awaitRoutineItem polls a run until it is done and returns the item's
// output, following result pages.
func (p *Processor) awaitRoutineItem(ctx context.Context, j *job, runID, itemID string) (json.RawMessage, error) {
	cursor := ""
	for {
		page, err := within(ctx, j, p.cfg.RequestTimeout, func(ctx context.Context) (*clay.RoutinePage, error) {
			return p.clay.RoutineResults(ctx, runID, cursor)
		})
		if err != nil {
			return nil, err
		}
		if !page.Done {
			sleep(ctx, p.cfg.RoutinePollInterval)
			if ctx.Err() != nil {
				return nil, &clay.Error{Op: "routine results", Kind: clay.KindCanceled,
					Message: "run " + runID + " not done in time", Err: ctx.Err()}
			}
			continue
		}
		for _, item := range page.Results {
			if item.ID != itemID {
				continue
			}
			if item.Status == clay.ItemComplete {
				return item.Output, nil
			}
			return nil, fmt.Errorf("%w: run %s: %s", errRoutineItemFailed, runID, item.Error)
		}
		if !page.HasMore {
			return nil, &clay.Error{Op: "routine results", Kind: clay.KindTransient,
				Message: "run " + runID + " finished without item " + itemID}
		}
		cursor = page.NextCursor
	}
}

// searchData is the result data of a search.
type searchData struct {
	SourceType string            `json:"source_type"`
	Results    []json.RawMessage `json:"results"`
}

func (p *Processor) search(ctx context.Context, j *job, req *subjects.Request) (json.RawMessage, error) {
	results, err := within(ctx, j, p.cfg.RequestTimeout, func(ctx context.Context) ([]json.RawMessage, error) {
		return p.clay.Search(ctx, req.Search.SourceType, req.Search.Filters, req.Search.Limit, req.Key)
	})
	if err != nil {
		return nil, err
	}
	if results == nil {
		results = []json.RawMessage{}
	}
	return json.Marshal(searchData{SourceType: req.Search.SourceType, Results: results})
}

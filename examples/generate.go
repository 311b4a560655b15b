package examples

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/claybridge/claybridge/subjects"
)

// GeneratedCount is the number of requests Generate returns.
const GeneratedCount = 1000

// Generate returns the sample requests of requests.jsonl: rows, routines
// and searches at every priority, about 4 % repeating an earlier
// Nats-Msg-Id, about 8 % invalid and a few that the simulator rejects.
// Every person and company is made up, on example.com, example.org and
// example.net domains. The output depends only on this code, not on the
// Go version, because the generator uses its own random number generator.
func Generate() []Request {
	g := &generator{rand: splitMix{state: 0x5eed_c1a7}}
	reqs := make([]Request, 0, GeneratedCount)
	for len(reqs) < GeneratedCount {
		roll := g.rand.intn(100)
		switch {
		case roll < 4 && len(g.keyed) > 0:
			reqs = append(reqs, g.duplicate())
		case roll < 12:
			reqs = append(reqs, g.invalid())
		default:
			reqs = append(reqs, g.valid())
		}
	}
	return reqs
}

// generator makes requests from one random stream.
type generator struct {
	rand splitMix
	// keyed are the valid requests with an ID, which duplicates repeat.
	keyed   []Request
	counter map[string]int
}

// nextID returns prefix-NNNN with a counter per prefix.
func (g *generator) nextID(prefix string) string {
	if g.counter == nil {
		g.counter = map[string]int{}
	}
	g.counter[prefix]++
	return fmt.Sprintf("%s-%04d", prefix, g.counter[prefix])
}

func (g *generator) priority() subjects.Priority {
	switch roll := g.rand.intn(100); {
	case roll < 15:
		return subjects.Critical
	case roll < 65:
		return subjects.Normal
	default:
		return subjects.Bulk
	}
}

func (g *generator) valid() Request {
	var req Request
	switch roll := g.rand.intn(100); {
	case roll < 45:
		req = g.row()
	case roll < 75:
		req = g.routine()
	default:
		req = g.search()
	}
	req.Priority = g.priority()
	// About 1 in 12 valid requests is keyless: the processor keys a row
	// or routine by its body and a search by its stream sequence.
	if g.rand.intn(12) == 0 {
		req.ID = ""
	} else {
		g.keyed = append(g.keyed, req)
	}
	return req
}

func (g *generator) row() Request {
	p := g.person()
	var table string
	var row map[string]any
	switch g.rand.intn(3) {
	case 0:
		table = "leads"
		row = map[string]any{"email": p.email, "first_name": p.first, "last_name": p.last,
			"company": p.company, "title": p.title, "source": pick(&g.rand, leadSources)}
	case 1:
		table = "accounts"
		row = map[string]any{"domain": p.domain, "company": p.company,
			"employees": 10 + g.rand.intn(4990), "country": pick(&g.rand, countries)}
	default:
		table = "event-signups"
		row = map[string]any{"email": p.email, "name": p.first + " " + p.last,
			"event": pick(&g.rand, events), "ticket": pick(&g.rand, tickets)}
	}
	return Request{Operation: subjects.Row, ID: g.nextID(table), Expect: ExpectResult,
		Body: mustJSON(map[string]any{"table": table, "row": row})}
}

func (g *generator) routine() Request {
	p := g.person()
	var routineID string
	var inputs map[string]any
	switch g.rand.intn(3) {
	case 0:
		routineID, inputs = "enrich-company", map[string]any{"domain": p.domain}
	case 1:
		routineID, inputs = "find-work-email", map[string]any{"first_name": p.first, "last_name": p.last, "domain": p.domain}
	default:
		routineID, inputs = "score-lead", map[string]any{"email": p.email, "title": p.title}
	}
	req := Request{Operation: subjects.Routine, ID: g.nextID(routineID), Expect: ExpectResult}
	// The simulator reports an item whose inputs hold "fail": true as
	// failed, which claybridge dead-letters as clay_rejected.
	if g.rand.intn(25) == 0 {
		inputs["fail"] = true
		req.Expect = string(subjects.ClassClayRejected)
		req.Note = `the simulator fails items whose inputs hold "fail": true`
	}
	req.Body = mustJSON(map[string]any{"routine_id": routineID, "inputs": inputs})
	return req
}

func (g *generator) search() Request {
	p := g.person()
	params := map[string]any{"source_type": subjects.SourcePeople}
	if g.rand.intn(2) == 0 {
		params["filters"] = map[string]any{"job_title": p.title, "company_domain": p.domain,
			"country": pick(&g.rand, countries)}
		params["limit"] = 5 + g.rand.intn(46)
	} else {
		params["source_type"] = subjects.SourceCompanies
		params["filters"] = map[string]any{"industry": pick(&g.rand, industries),
			"country": pick(&g.rand, countries), "min_employees": 10 * (1 + g.rand.intn(50))}
		params["limit"] = 5 + g.rand.intn(96)
	}
	return Request{Operation: subjects.Search, ID: g.nextID("search"), Expect: ExpectResult, Body: mustJSON(params)}
}

// duplicate repeats an earlier keyed request's ID. A quarter of them
// change the body too; the stream still drops them, keeping the first.
func (g *generator) duplicate() Request {
	req := pick(&g.rand, g.keyed)
	req.Priority, req.Expect = g.priority(), ExpectDuplicate
	req.Note = "repeats the Nats-Msg-Id of an earlier request"
	if g.rand.intn(4) == 0 {
		var params map[string]any
		if err := json.Unmarshal(req.Body, &params); err != nil {
			panic(err)
		}
		params["resent_by"] = "retrying publisher"
		req.Body = mustJSON(params)
		req.Note = "repeats the Nats-Msg-Id of an earlier request with an edited body"
	}
	return req
}

// invalidCase is a kind of invalid request.
type invalidCase struct {
	operation subjects.Operation
	note      string
	// body makes the body from a made-up person; raw bodies are not JSON.
	body func(p person) (body json.RawMessage, raw string)
}

var invalidCases = []invalidCase{
	{subjects.Row, "body is not JSON: cut off mid-object", func(p person) (json.RawMessage, string) {
		return nil, `{"table":"leads","row":{"email":"` + p.email + `","first_name":`
	}},
	{subjects.Row, `missing "table"`, func(p person) (json.RawMessage, string) {
		return mustJSON(map[string]any{"row": map[string]any{"email": p.email}}), ""
	}},
	{subjects.Row, `missing "row"`, func(p person) (json.RawMessage, string) {
		return mustJSON(map[string]any{"table": "leads"}), ""
	}},
	{subjects.Row, `misspelled field "tabel"`, func(p person) (json.RawMessage, string) {
		return mustJSON(map[string]any{"tabel": "leads", "row": map[string]any{"email": p.email}}), ""
	}},
	{subjects.Row, "row sets claybridge_key, which claybridge owns", func(p person) (json.RawMessage, string) {
		return mustJSON(map[string]any{"table": "leads", "row": map[string]any{"email": p.email, subjects.RowKeyColumn: "mine"}}), ""
	}},
	{subjects.Row, "body is a JSON array, not an object", func(p person) (json.RawMessage, string) {
		return mustJSON([]any{map[string]any{"table": "leads", "row": map[string]any{"email": p.email}}}), ""
	}},
	{subjects.Routine, `missing "routine_id"`, func(p person) (json.RawMessage, string) {
		return mustJSON(map[string]any{"inputs": map[string]any{"domain": p.domain}}), ""
	}},
	{subjects.Routine, `missing "inputs"`, func(p person) (json.RawMessage, string) {
		return mustJSON(map[string]any{"routine_id": "enrich-company"}), ""
	}},
	{subjects.Routine, "body is not JSON: plain text", func(p person) (json.RawMessage, string) {
		return nil, "enrich " + p.domain + " please"
	}},
	{subjects.Search, "limit 0 is below 1", func(p person) (json.RawMessage, string) {
		return mustJSON(map[string]any{"source_type": "people", "filters": map[string]any{"company_domain": p.domain}, "limit": 0}), ""
	}},
	{subjects.Search, "limit 501 is above 500", func(p person) (json.RawMessage, string) {
		return mustJSON(map[string]any{"source_type": "companies", "filters": map[string]any{"country": "DE"}, "limit": 501}), ""
	}},
	{subjects.Search, "negative limit", func(p person) (json.RawMessage, string) {
		return mustJSON(map[string]any{"source_type": "people", "filters": map[string]any{"job_title": p.title}, "limit": -3}), ""
	}},
	{subjects.Search, `unknown source_type "robots"`, func(p person) (json.RawMessage, string) {
		return mustJSON(map[string]any{"source_type": "robots", "filters": map[string]any{}, "limit": 10}), ""
	}},
	{subjects.Search, `missing "filters"`, func(p person) (json.RawMessage, string) {
		return mustJSON(map[string]any{"source_type": "people", "limit": 10}), ""
	}},
	{subjects.Search, `limit given as a string`, func(p person) (json.RawMessage, string) {
		return mustJSON(map[string]any{"source_type": "people", "filters": map[string]any{"job_title": p.title}, "limit": "ten"}), ""
	}},
}

func (g *generator) invalid() Request {
	c := pick(&g.rand, invalidCases)
	body, raw := c.body(g.person())
	return Request{Priority: g.priority(), Operation: c.operation, ID: g.nextID("invalid"),
		Body: body, RawBody: raw, Expect: string(subjects.ClassInvalidRequest), Note: c.note}
}

// person is a made-up person at a made-up company.
type person struct {
	first, last, title, company, domain, email string
}

func (g *generator) person() person {
	first, last := pick(&g.rand, firstNames), pick(&g.rand, lastNames)
	company := pick(&g.rand, companyWords) + " " + pick(&g.rand, companyKinds)
	domain := strings.ToLower(strings.ReplaceAll(company, " ", "")) + "." + pick(&g.rand, exampleDomains)
	return person{
		first: first, last: last, title: pick(&g.rand, titles), company: company, domain: domain,
		email: strings.ToLower(first+"."+last) + "@" + domain,
	}
}

// exampleDomains are reserved for documentation (RFC 2606), so no address
// made from them reaches a real person.
var exampleDomains = []string{"example.com", "example.org", "example.net"}

var (
	firstNames = []string{"Ada", "Bruno", "Chioma", "Dmitri", "Elif", "Farah", "Goran", "Hana", "Ines", "Jonas",
		"Kwame", "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tariq", "Uma", "Viktor",
		"Wen", "Ximena", "Yusuf", "Zofia"}
	lastNames = []string{"Abara", "Berg", "Castell", "Dorn", "Eklund", "Faro", "Grell", "Hollis", "Ivers", "Jansen",
		"Kova", "Lindqvist", "Marsh", "Novak", "Okafor", "Pell", "Quist", "Rahm", "Sato", "Tamm", "Ulrich", "Vance",
		"Weller", "Yilmaz", "Zeller"}
	titles = []string{"Head of Sales", "VP Marketing", "Revenue Operations Manager", "CTO", "Founder",
		"Growth Lead", "Account Executive", "Data Engineer", "Head of Partnerships", "COO"}
	companyWords = []string{"Granite", "Bluefin", "Cedar", "Harbor", "Lumen", "Northfield", "Quill", "Saffron",
		"Tidewater", "Vantage", "Juniper", "Copperline"}
	companyKinds = []string{"Analytics", "Logistics", "Robotics", "Health", "Foods", "Systems", "Freight",
		"Energy", "Studio", "Labs"}
	industries  = []string{"software", "logistics", "healthcare", "retail", "manufacturing", "fintech", "media"}
	countries   = []string{"DE", "FR", "NL", "US", "CA", "GB", "SE", "ES", "JP", "BR"}
	leadSources = []string{"webinar", "trade-show", "website", "referral", "partner"}
	events      = []string{"Data Summit 2025", "RevOps Day", "Growth Breakfast", "Partner Kickoff"}
	tickets     = []string{"standard", "vip", "speaker", "press"}
)

func mustJSON(v any) json.RawMessage {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return data
}

func pick[T any](r *splitMix, items []T) T {
	return items[r.intn(len(items))]
}

// splitMix is the SplitMix64 generator: small, fast and, unlike
// math/rand, fixed by this code.
type splitMix struct {
	state uint64
}

func (s *splitMix) next() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a number in [0, n). Its modulo bias is far below what
// sample data cares about.
func (s *splitMix) intn(n int) int {
	return int(s.next() % uint64(n))
}

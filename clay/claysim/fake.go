package claysim

import (
	"fmt"
	"strings"
)

// Invented names for generated search results. Results combine them at
// random, so any match with a real person or company is a coincidence.
// Every domain is a subdomain of example.com, which RFC 2606 reserves.
var (
	fakeFirstNames = []string{
		"Avery", "Jordan", "Riley", "Morgan", "Quinn", "Rowan", "Sasha", "Emery",
		"Harper", "Kai", "Linden", "Marlo", "Noor", "Ossian", "Priya", "Tamsin",
	}
	fakeLastNames = []string{
		"Lindqvist", "Okafor", "Marchetti", "Thornbury", "Vasquez", "Halvorsen", "Brightwater", "Castellane",
		"Drummond", "Ellery", "Fairbanks", "Gallow", "Hartigan", "Ivers", "Kowalczyk", "Moreau",
	}
	fakeCompanyPrefixes = []string{
		"Northwind", "Bluefern", "Copperline", "Halcyon", "Ironbark", "Juniper", "Kestrel", "Larkspur",
		"Meridian", "Oakhollow", "Pinecrest", "Quillon", "Redwater", "Silverbirch", "Tidewell", "Umberfield",
	}
	fakeCompanySuffixes = []string{
		"Analytics", "Logistics", "Robotics", "Health", "Labs", "Systems", "Foods", "Energy",
	}
	fakeIndustries = []string{
		"Software", "Logistics", "Healthcare", "Manufacturing", "Retail", "Financial Services", "Energy", "Media",
	}
	fakeTitles = []string{
		"Head of Growth", "VP of Sales", "Data Engineer", "Marketing Manager",
		"Chief Operating Officer", "Account Executive", "Product Designer", "Revenue Operations Lead",
	}
	fakeCities = []string{
		"Lisbon, Portugal", "Austin, United States", "Toronto, Canada", "Melbourne, Australia",
		"Berlin, Germany", "Nairobi, Kenya", "Osaka, Japan", "Bogotá, Colombia",
	}
)

// pick returns the element of list chosen by bits of h starting at shift.
func pick(list []string, h uint64, shift uint) string {
	return list[(h>>shift)%uint64(len(list))]
}

func fakeCompanyName(h uint64) (name, domain string) {
	prefix := pick(fakeCompanyPrefixes, h, 40)
	suffix := pick(fakeCompanySuffixes, h, 48)
	return prefix + " " + suffix, strings.ToLower(prefix+"-"+suffix) + ".example.com"
}

// fakePerson returns a generated person determined by h.
func fakePerson(h uint64) map[string]any {
	first := pick(fakeFirstNames, h, 0)
	last := pick(fakeLastNames, h, 8)
	company, domain := fakeCompanyName(h)
	return map[string]any{
		"id":             fmt.Sprintf("person_%016x", h),
		"full_name":      first + " " + last,
		"first_name":     first,
		"last_name":      last,
		"title":          pick(fakeTitles, h, 16),
		"location":       pick(fakeCities, h, 24),
		"company_name":   company,
		"company_domain": domain,
		"email":          strings.ToLower(first+"."+last) + "@" + domain,
	}
}

// fakeCompany returns a generated company determined by h.
func fakeCompany(h uint64) map[string]any {
	name, domain := fakeCompanyName(h)
	return map[string]any{
		"id":             fmt.Sprintf("company_%016x", h),
		"name":           name,
		"domain":         domain,
		"industry":       pick(fakeIndustries, h, 16),
		"location":       pick(fakeCities, h, 24),
		"employee_count": 10 + int((h>>32)%5000),
	}
}

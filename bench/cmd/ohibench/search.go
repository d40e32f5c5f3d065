package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mi "github.com/aws/aws-sdk-go-v2/service/medicalimaging"
	"github.com/aws/aws-sdk-go-v2/service/medicalimaging/types"
)

// searchKind is one kind of SearchImageSets request. next builds the input
// of the next timed request; pages > 1 follows nextToken that many pages
// (each page is one timed request).
type searchKind struct {
	name  string
	pages int
	input func(s *sampleSet, rng *rand.Rand) *types.SearchCriteria
	// check validates one response page (nil: anything goes).
	check func(c *types.SearchCriteria, out *mi.SearchImageSetsOutput) error
}

func equal(v types.SearchByAttributeValue) *types.SearchCriteria {
	return &types.SearchCriteria{Filters: []types.SearchFilter{{Operator: types.OperatorEqual, Values: []types.SearchByAttributeValue{v}}}}
}

func nonEmpty(_ *types.SearchCriteria, out *mi.SearchImageSetsOutput) error {
	if len(out.ImageSetsMetadataSummaries) == 0 {
		return errors.New("no results")
	}
	return nil
}

// randomDay returns a random midnight in [from, to-days).
func randomDay(rng *rand.Rand, from, to time.Time, days int) time.Time {
	span := int(to.Sub(from).Hours()/24) - days
	return from.AddDate(0, 0, rng.IntN(max(1, span)))
}

var searchKinds = []searchKind{
	{name: "no-filter", input: func(*sampleSet, *rand.Rand) *types.SearchCriteria { return nil }, check: nonEmpty},
	{name: "patientId-equal", input: func(s *sampleSet, rng *rand.Rand) *types.SearchCriteria {
		return equal(&types.SearchByAttributeValueMemberDICOMPatientId{Value: pick(s.PatientIDs, rng)})
	}, check: func(c *types.SearchCriteria, out *mi.SearchImageSetsOutput) error {
		want := c.Filters[0].Values[0].(*types.SearchByAttributeValueMemberDICOMPatientId).Value
		for _, is := range out.ImageSetsMetadataSummaries {
			if got := aws.ToString(is.DICOMTags.DICOMPatientId); got != want {
				return fmt.Errorf("result for patient %s has patient %s", want, got)
			}
		}
		return nonEmpty(c, out)
	}},
	{name: "studyUID-equal", input: func(s *sampleSet, rng *rand.Rand) *types.SearchCriteria {
		return equal(&types.SearchByAttributeValueMemberDICOMStudyInstanceUID{Value: pick(s.StudyUIDs, rng)})
	}, check: func(c *types.SearchCriteria, out *mi.SearchImageSetsOutput) error {
		want := c.Filters[0].Values[0].(*types.SearchByAttributeValueMemberDICOMStudyInstanceUID).Value
		for _, is := range out.ImageSetsMetadataSummaries {
			if got := aws.ToString(is.DICOMTags.DICOMStudyInstanceUID); got != want {
				return fmt.Errorf("result for study %s has study %s", want, got)
			}
		}
		return nonEmpty(c, out)
	}},
	{name: "createdAt-between-1d", input: func(s *sampleSet, rng *rand.Rand) *types.SearchCriteria {
		lo := randomDay(rng, s.CreatedMin, s.CreatedMax, 1)
		return &types.SearchCriteria{Filters: []types.SearchFilter{{Operator: types.OperatorBetween, Values: []types.SearchByAttributeValue{
			&types.SearchByAttributeValueMemberCreatedAt{Value: lo}, &types.SearchByAttributeValueMemberCreatedAt{Value: lo.Add(24 * time.Hour)}}}}}
	}},
	{name: "studyDate-between-30d-sorted", input: func(s *sampleSet, rng *rand.Rand) *types.SearchCriteria {
		lo := randomDay(rng, s.StudyMin, s.StudyMax, 30)
		hi := lo.AddDate(0, 0, 30)
		return &types.SearchCriteria{
			Filters: []types.SearchFilter{{Operator: types.OperatorBetween, Values: []types.SearchByAttributeValue{
				&types.SearchByAttributeValueMemberDICOMStudyDateAndTime{Value: types.DICOMStudyDateAndTime{DICOMStudyDate: aws.String(lo.Format("20060102"))}},
				&types.SearchByAttributeValueMemberDICOMStudyDateAndTime{Value: types.DICOMStudyDateAndTime{DICOMStudyDate: aws.String(hi.Format("20060102"))}},
			}}},
			Sort: &types.Sort{SortField: types.SortFieldDICOMStudyDateAndTime, SortOrder: types.SortOrderAsc},
		}
	}, check: nonEmpty},
	{name: "isPrimary-equal", input: func(*sampleSet, *rand.Rand) *types.SearchCriteria {
		return equal(&types.SearchByAttributeValueMemberIsPrimary{Value: true})
	}, check: nonEmpty},
	{name: "no-filter-pages-1-20", pages: 20, input: func(*sampleSet, *rand.Rand) *types.SearchCriteria { return nil }, check: nonEmpty},
}

// runSearch times sequential SearchImageSets requests, -n per kind.
func runSearch(args []string) error {
	fl := flag.NewFlagSet("search", flag.ExitOnError)
	endpoint := fl.String("endpoint", "", "ohi endpoint URL")
	ak := fl.String("access-key", "bench", "access key id")
	sk := fl.String("secret", "bench-secret", "secret access key")
	ds := fl.String("datastore", "", "data store id")
	samplesPath := fl.String("samples", "", "identifiers to query (written by seed or import)")
	kindsFlag := fl.String("kinds", "", "comma-separated query kinds (default: all that the samples allow)")
	n := fl.Int("n", 1000, "timed requests per kind")
	warmup := fl.Int("warmup", 20, "untimed requests per kind first")
	prefix := fl.String("prefix", "OHI_SEARCH", "prefix of the result keys")
	label := fl.String("label", "", "dataset description for the report")
	pid := fl.Int("pid", 0, "server process id, to report its RSS (optional)")
	result := fl.String("result", "", "append KEY=VALUE results to this file")
	_ = fl.Parse(args)
	if *endpoint == "" || *ds == "" || *samplesPath == "" || *n < 1 {
		return errors.New("-endpoint, -datastore, -samples and -n >= 1 are required")
	}
	s, err := readSamples(*samplesPath)
	if err != nil {
		return err
	}
	var kinds []searchKind
	for _, k := range searchKinds {
		if *kindsFlag != "" && !strings.Contains(","+*kindsFlag+",", ","+k.name+",") {
			continue
		}
		if s.CreatedMin.IsZero() && strings.Contains(k.name, "between") {
			continue
		}
		kinds = append(kinds, k)
	}
	if len(kinds) == 0 {
		return fmt.Errorf("no query kind selected by %q", *kindsFlag)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c := newClient(*endpoint, *ak, *sk)
	rng := newRand()
	var r results
	var all []time.Duration
	fmt.Printf("ohi SearchImageSets, %d sequential requests per kind, Go SDK with SigV4, default page size (%s)\n", *n, *label)
	fmt.Printf("  %-30s %9s %9s %9s %8s\n", "query", "p50 ms", "p99 ms", "req/s", "results")
	for _, k := range kinds {
		lat := make([]time.Duration, 0, *n)
		var hits int
		var began time.Time
		for i := 0; i < *warmup+*n; {
			crit := k.input(s, rng)
			var token *string
			for page := 1; page <= max(1, k.pages) && i < *warmup+*n; page++ {
				t0 := time.Now()
				if i == *warmup {
					began = t0
				}
				out, err := c.SearchImageSets(ctx, &mi.SearchImageSetsInput{DatastoreId: ds, SearchCriteria: crit, NextToken: token})
				d := time.Since(t0)
				if err != nil {
					return fmt.Errorf("%s request %d (page %d): %w", k.name, i+1, page, err)
				}
				if k.check != nil {
					if err := k.check(crit, out); err != nil {
						return fmt.Errorf("%s page %d: %w", k.name, page, err)
					}
				}
				if i >= *warmup {
					lat = append(lat, d)
					hits += len(out.ImageSetsMetadataSummaries)
				}
				i++
				token = out.NextToken
				if k.pages > 1 && page < k.pages && token == nil {
					return fmt.Errorf("%s: no nextToken after page %d", k.name, page)
				}
			}
		}
		rate := float64(len(lat)) / time.Since(began).Seconds()
		all = append(all, lat...)
		p50, p99 := percentile(lat, 50), percentile(lat, 99)
		fmt.Printf("  %-30s %9s %9s %9.0f %8.1f\n", k.name, msec(p50), msec(p99), rate, float64(hits)/float64(len(lat)))
		key := strings.ToUpper(strings.NewReplacer("-", "_").Replace(k.name))
		r.set(*prefix+"_"+key+"_P50_MS", "%s", msec(p50))
		r.set(*prefix+"_"+key+"_P99_MS", "%s", msec(p99))
		r.set(*prefix+"_"+key+"_RPS", "%.0f", rate)
	}
	p50, p99 := percentile(all, 50), percentile(all, 99)
	fmt.Printf("  %-30s %9s %9s\n", "overall", msec(p50), msec(p99))
	r.set(*prefix+"_ALL_P50_MS", "%s", msec(p50))
	r.set(*prefix+"_ALL_P99_MS", "%s", msec(p99))
	if *pid != 0 {
		rss, peak, err := procMem(*pid)
		if err != nil {
			return err
		}
		fmt.Printf("  server RSS after the queries: %.0f MB (peak %.0f MB)\n", float64(rss)/1e6, float64(peak)/1e6)
		r.set(*prefix+"_PEAK_RSS_MB", "%.0f", float64(peak)/1e6)
	}
	return r.write(*result)
}

// newRand returns the deterministic source of the query parameters.
func newRand() *rand.Rand { return rand.New(rand.NewPCG(11, 11)) }

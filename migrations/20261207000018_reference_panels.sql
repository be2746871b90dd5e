-- The panel test and the fingerprint test as reference jobs: each compares the
-- suspect with several control sets (kept in order, as given), and the
-- fingerprint test reads a sample of our served completions of a chosen size.
ALTER TABLE reference_jobs DROP CONSTRAINT reference_jobs_kind_check;
ALTER TABLE reference_jobs ADD CONSTRAINT reference_jobs_kind_check
    CHECK (kind IN ('attribution', 'distillation_test', 'panel_test', 'fingerprint_test'));
-- the control sets of a panel or fingerprint test
ALTER TABLE reference_jobs ADD COLUMN control_ids bigint[];
-- how many of our served completions the fingerprint test reads; NULL: its default
ALTER TABLE reference_jobs ADD COLUMN sample integer;
ALTER TABLE reference_jobs ADD CONSTRAINT reference_jobs_control_ids_check
    CHECK ((kind IN ('panel_test', 'fingerprint_test')) = (control_ids IS NOT NULL)
           AND (control_ids IS NULL OR cardinality(control_ids) >= 1));
ALTER TABLE reference_jobs ADD CONSTRAINT reference_jobs_sample_check
    CHECK (sample IS NULL OR (kind = 'fingerprint_test' AND sample > 0));

DROP INDEX tickets_by_filer;

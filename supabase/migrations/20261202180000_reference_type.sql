-- A reference's MIME type, recorded with it when it is uploaded (the form has just checked its bytes),
-- so the engine does not sniff it again on every create. Rows from before keep null: the engine
-- sniffs those. Only the types the app accepts may be recorded, and only beside a reference.
alter table public.videos add column reference_type text
    check (reference_type is null or reference_type in (
        'image/png', 'image/jpeg', 'image/webp', 'video/mp4', 'video/quicktime', 'video/webm'
    )),
    add constraint videos_reference_type_with_path check (reference_type is null or reference_path is not null);

-- users record it with their submission, as they record the reference's path
grant insert (reference_type) on public.videos to authenticated;

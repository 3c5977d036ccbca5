-- A video's reference must be one of its owner's own uploads: `<user_id>/references/<sha256>.<ext>`.
-- Without this a user could record a video whose reference names another user's file (their
-- reference, video or thumbnail); the engine reads references with the service role, so it would
-- send that file to the provider and store the result in the recording user's folder.
-- `not valid`: rows recorded before this migration are not checked here (the engine refuses them
-- too); every new or changed row is.
alter table public.videos add constraint videos_reference_in_own_folder check (
    reference_path is null
    or reference_path ~ ('^' || user_id::text || '/references/[0-9a-f]{64}\.[a-z0-9]{2,5}$')
) not valid;

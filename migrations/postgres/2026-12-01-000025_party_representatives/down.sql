DELETE FROM memberships WHERE role IN ('committee_representative', 'company_representative');
ALTER TABLE memberships DROP CONSTRAINT memberships_role_check;
ALTER TABLE memberships ADD CONSTRAINT memberships_role_check CHECK (role IN ('grid_worker','branch_secretary','community_staff','department_liaison','supervisor','admin'));

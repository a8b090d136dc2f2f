-- The parties' representatives (业委会代表, 物业代表) of the three-party consultation (#19) are
-- roles bound to a compound.
ALTER TABLE memberships DROP CONSTRAINT memberships_role_check;
ALTER TABLE memberships ADD CONSTRAINT memberships_role_check CHECK (role IN ('grid_worker','branch_secretary','community_staff','department_liaison','supervisor','admin','committee_representative','company_representative'));

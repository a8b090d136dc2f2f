# The domain's names: states, actions, roles, kinds (领域名称). Keys: <Type>-<code>.

## TicketState
TicketState-at_compound = 待小区处理
TicketState-compound_handling = 小区办理中
TicketState-at_community = 待社区受理
TicketState-community_handling = 社区办理中
TicketState-whistled = 部门办理中
TicketState-solved = 待回访
TicketState-closed = 已办结
TicketState-duplicate = 重复件
TicketState-declined = 不予受理

## Level
Level-compound = 小区
Level-community = 社区
Level-department = 职能部门

## ActionKind
ActionKind-accept_at_compound = 小区受理
ActionKind-report_to_community = 上报社区
ActionKind-mark_duplicate = 标记重复
ActionKind-decline = 不予受理
ActionKind-accept_at_community = 社区受理
ActionKind-whistle = 吹哨派单
ActionKind-add_department = 追加部门
ActionKind-remove_department = 撤回部门
ActionKind-acknowledge = 签收报到
ActionKind-return_case = 退单
ActionKind-request_extension = 申请延期
ActionKind-add_progress = 办理进展
ActionKind-complete_part = 协办完成
ActionKind-mark_solved = 办结
ActionKind-rule_on_return = 退单裁定
ActionKind-rule_on_extension = 延期审批
ActionKind-record_return_visit = 回访
ActionKind-pause_for_resident = 等待居民
ActionKind-resume_work = 恢复办理
ActionKind-release_part = 解除协办
ActionKind-escalate_to_community = 超时上报社区

## AssignmentState
AssignmentState-dispatched = 待签收
AssignmentState-acknowledged = 办理中
AssignmentState-returned = 已退单
AssignmentState-done = 协办完成
AssignmentState-removed = 已撤回

## ReturnReason
ReturnReason-not_our_territory = 不属于本辖区
ReturnReason-unclear_ownership = 权属不清
ReturnReason-overlapping_duties = 职责交叉
ReturnReason-outside_our_remit = 不属于本部门职责

## WhistleType
WhistleType-beyond_street_power = 超出街道职权
WhistleType-enforcement_needed = 需要执法
WhistleType-emergency = 应急处置

## Satisfaction
Satisfaction-satisfied = 满意
Satisfaction-basically_satisfied = 基本满意
Satisfaction-not_satisfied = 不满意

## Channel
Channel-visit = 入户走访
Channel-hotline = 热线
Channel-walk_in = 来访
Channel-online = 网上

## OrgKind
OrgKind-city = 市
OrgKind-district = 区县
OrgKind-street = 街道
OrgKind-community = 社区
OrgKind-compound = 小区
OrgKind-building = 楼栋
OrgKind-department = 职能部门

## Role
Role-grid_worker = 网格员
Role-branch_secretary = 小区党支部书记
Role-community_staff = 社区工作人员
Role-department_liaison = 部门联络员
Role-supervisor = 指挥中心督办
Role-admin = 系统管理员
Role-committee_representative = 业委会代表
Role-company_representative = 物业代表

## Stage
Stage-compound_triage = 小区分拨
Stage-community_acceptance = 社区受理
Stage-department_acknowledgement = 部门签收
Stage-resolution = 办理
Stage-return_visit = 回访
Stage-return_ruling = 退单裁定

## PartEnd
PartEnd-removed = 已撤回
PartEnd-released = 已解除协办
PartEnd-return_accepted = 退单成立

## YearStatus
YearStatus-published = 正式
YearStatus-provisional = 暂定

## Three-party consultation (三方协调议事)
Party-branch = 党支部
Party-owners_committee = 业主委员会
Party-property_company = 物业服务企业
ItemState-agenda = 待议
ItemState-action = 落实中
ItemState-done = 已完成
ItemState-dropped = 已撤销
Timeliness-running = 未到期
Timeliness-overdue = 已超期
Timeliness-on_time = 按时完成
Timeliness-late = 逾期完成
CandidateReason-recurring = 反复出现
CandidateReason-reopened = 有重办
CandidateReason-dissatisfied = 有不满意
Verdict-satisfactory = 合格
Verdict-rectify = 约谈整改
Verdict-replace = 建议解聘更换
